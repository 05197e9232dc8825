"""What an application registers: subcommands, datasets and training recipes (see ``projdiff.apps``).

A ``Command`` is one subcommand of ``projdiff``: ``add_arguments`` declares its options on an
argparse parser and ``run`` does the work, returning the exit code. Bad input raises one of
``USER_ERRORS`` with a one-line message naming the argument or file; the CLI prints it and exits
with code 2.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Callable, Mapping

from projdiff.training import Architecture, DataSource, Recipe

USER_ERRORS = (ValueError, OSError, OverflowError, FloatingPointError, MemoryError)
"""Exceptions that mean bad input: OSError covers missing files, existing outputs and full or read-only
disks; FloatingPointError is a solve or a training run that diverged on the settings given."""


@dataclass(frozen=True)
class Command:
    """A subcommand: ``projdiff NAME ...`` (or ``projdiff data NAME ...`` for a dataset builder).

    Parameters
    ----------
    name : str
    help : str
        One line for the command list of ``--help``.
    add_arguments : callable
        ``(parser) -> None``: declares the options.
    run : callable
        ``(args) -> int``: the exit code.
    epilog : str
        Examples and outputs, shown by ``projdiff NAME --help``.
    actions : tuple of Command
        Sub-subcommands, e.g. ``projdiff tumor train-judge``; the command itself still runs
        when none is given.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    epilog: str = ""
    actions: tuple["Command", ...] = ()


@dataclass(frozen=True)
class DataSourceType:
    """A kind of training data for ``projdiff train --data NAME`` or ``--data NAME:PATH``.

    ``make(path)`` builds the ``DataSource`` (``path`` is ``""`` when ``takes_path`` is false).
    """

    name: str
    make: Callable[[str], DataSource]
    takes_path: bool = True

    @property
    def usage(self) -> str:
        return f"{self.name}:PATH" if self.takes_path else self.name


@dataclass(frozen=True)
class Application:
    """Everything an application adds to ``projdiff``.

    Attributes
    ----------
    name : str
    commands : tuple of Command
        Top-level subcommands (``projdiff restore``, ``projdiff separate``...).
    datasets : tuple of Command
        Dataset builders, run as ``projdiff data NAME``.
    presets : mapping name -> Recipe
        Named training recipes (``projdiff train --preset NAME``).
    data_sources : tuple of DataSourceType
        Training data kinds (``projdiff train --data ...``).
    architectures : mapping name -> Architecture
        Architectures beyond the generic ones of ``projdiff.training`` (``--model NAME``).
    """

    name: str
    commands: tuple[Command, ...] = ()
    datasets: tuple[Command, ...] = ()
    presets: Mapping[str, Recipe] = field(default_factory=dict)
    data_sources: tuple[DataSourceType, ...] = ()
    architectures: Mapping[str, Architecture] = field(default_factory=dict)
