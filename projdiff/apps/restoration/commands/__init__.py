"""The restoration application's subcommands: ``restore``, ``demo`` and ``run``."""
