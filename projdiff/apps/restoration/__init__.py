"""Image restoration: degradations (``degradations.py``), one image (``restoration.py``), batch jobs
(``jobs.py``), the demo, image priors' training data (``recipes.py``) and the ``restore``, ``demo``
and ``run`` subcommands."""
