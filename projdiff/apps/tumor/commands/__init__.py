"""The tumor application's subcommands: ``tumor`` (with ``train-judge``, ``train-discriminator`` and
``finetune-adversarial``) and ``data lesions``."""
