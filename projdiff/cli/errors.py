"""How the command line reports failures: always one line on stderr, never a traceback.

- Bad input (``apps.base.USER_ERRORS``: a missing or corrupt file, a bad value, an existing
  output, a full or read-only disk, a size that does not fit in memory) exits with code 2 and
  a line that names the argument or file.
- Ctrl-C exits with 130 and SIGTERM with 143; both unwind the program, so temporary files and
  uncommitted staging folders are removed on the way out.
- Anything else is a bug of projdiff: one line saying so, exit code 1, and the traceback only
  when the environment variable ``PROJDIFF_TRACEBACK`` is set.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import os
import signal
import sys
import threading
import traceback

from projdiff.apps.base import USER_ERRORS


class Terminated(KeyboardInterrupt):
    """Raised by the SIGTERM handler, so that the program unwinds as on Ctrl-C."""


class UsageError(Exception):
    """A command line argparse cannot parse; ``prog`` names the (sub)command it belongs to."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are exceptions (reported in one line by ``report``)."""

    def error(self, message: str):
        raise UsageError(self.prog, message)


def unrecognized(parser: argparse.ArgumentParser, extras: list[str]) -> UsageError:
    """The error for arguments ``parser`` does not know, with the closest option it has."""
    options = [o for action in parser._actions for o in action.option_strings]
    hint = ""
    for extra in extras:
        close = difflib.get_close_matches(extra.split("=", 1)[0], options, n=1, cutoff=0.6)
        if extra.startswith("-") and close:
            hint = f"; did you mean {close[0]}?"
            break
    return UsageError(parser.prog, f"unrecognized arguments: {' '.join(extras)}{hint}")


def _oserror(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"{exc.filename or 'output'}: no space left on the disk; free some space or choose another --out"
    if exc.errno == errno.EROFS:
        return f"{exc.filename or 'output'}: the file system is read-only; choose another --out"
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


def _memory(exc: BaseException) -> str:
    return (f"out of memory ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}); "
            "use fewer samples, smaller inputs or a smaller batch")


def is_out_of_memory(exc: BaseException) -> bool:
    """Allocation failures: MemoryError, torch's OutOfMemoryError and the CPU allocator's RuntimeError."""
    import torch

    return isinstance(exc, (MemoryError, torch.OutOfMemoryError)) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


def report(name: str, exc: BaseException) -> int:
    """Print ``exc`` as one line for subcommand ``name``; returns the exit code."""
    if isinstance(exc, UsageError):
        print(f"{exc.prog}: error: {exc} (see {exc.prog} --help)", file=sys.stderr)
        return 2
    prefix = f"projdiff {name}".rstrip()
    if isinstance(exc, Terminated):
        print(f"{prefix}: terminated (SIGTERM); unfinished outputs were removed", file=sys.stderr)
        return 128 + signal.SIGTERM
    if isinstance(exc, KeyboardInterrupt):
        print(f"{prefix}: interrupted; unfinished outputs were removed", file=sys.stderr)
        return 130
    if is_out_of_memory(exc):
        message, code = _memory(exc), 2
    elif isinstance(exc, OSError):
        message, code = _oserror(exc), 2
    elif isinstance(exc, USER_ERRORS):
        message, code = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__, 2
    else:
        first = str(exc).splitlines()[0] if str(exc).strip() else ""
        message = (f"internal error ({type(exc).__name__}: {first}); this is a bug of projdiff, please report it "
                   "(set PROJDIFF_TRACEBACK=1 to see where it happened)")
        code = 1
    if os.environ.get("PROJDIFF_TRACEBACK"):
        traceback.print_exception(exc, file=sys.stderr)
    print(f"{prefix}: error: {message}", file=sys.stderr)
    return code


def _terminate(signum, frame) -> None:
    raise Terminated()


def install_sigterm() -> object | None:
    """Turn SIGTERM into ``Terminated``; returns the previous handler (None outside the main thread,
    where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _terminate)


def safe_streams() -> None:
    """Print file names that are not valid UTF-8 with escapes instead of failing."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
