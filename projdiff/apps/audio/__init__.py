"""Audio: separation and partial generation with a joint stem prior (``separation.py``, ``stem_prior.py``),
audio files, SI-SDR metrics, the chorale stems (``chorales.py``) and the stem prior's recipe."""
