"""The audio application's subcommands: ``separate``, ``generate`` and ``data chorales``."""
