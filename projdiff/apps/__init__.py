"""Applications of the engine, one folder each: ``restoration`` (images), ``audio`` and ``tumor`` (CT).

An application owns its data sources, training recipes, outputs, model-card metadata and CLI
subcommands, and describes them in one ``Application`` object (``APP`` in its ``app.py``);
``projdiff.cli.applications`` lists the applications. Applications do not import each other; what
they share lives in ``projdiff.apps.base`` (the ``Application`` and ``Command`` types and shared
command-line options) and in ``projdiff.utils``.
"""
