"""Tumor-in-CT synthesis: CT files and geometry (``ct/``), lesion masks and appearance backends, the
quality filter (judge, discriminator), phantom training data, evaluation metrics and the
``tumor`` and ``data lesions`` subcommands; see ``docs/tumor.md``."""
