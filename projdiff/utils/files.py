"""Atomic file output: write to a temporary file in the target folder, then rename.

A reader (or a job restarted after a kill) never sees half a file: a name exists only once its
content is complete. Used by every application that writes results; ``check_free`` refuses to
replace existing outputs unless asked to. Files get the permissions of an ordinary ``open``
(``0666`` less the process's umask), not the ``0600`` of a temporary file. A temporary file is
removed when the writer fails or the process is interrupted (Ctrl-C, or SIGTERM through the
command line's handler); only SIGKILL can leave one, named ``.NAME.*.tmp``, beside its target.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable


def _umask() -> int:
    """The process's umask (read without changing it, from /proc where available)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and rename the result to ``path`` (creating parent folders).

    The file gets mode ``0666 & ~umask``, as ``open`` would give it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_json(path: str | Path, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def _writable_folder(folder: Path) -> None:
    """``NotADirectoryError`` / ``PermissionError`` when files cannot be created under ``folder``."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(f"{existing}: is a file, where an output folder is to be")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{existing}: the output folder is not writable")


def check_free(paths: Iterable[Path], overwrite: bool) -> None:
    """Check, before any work, that the output files ``paths`` can be written.

    Raises ``FileExistsError`` naming the first existing path unless ``overwrite``; a folder where
    a file is to be written (``IsADirectoryError``), a file where a folder is to be
    (``NotADirectoryError``) and a folder that is not writable (``PermissionError``) are refused
    even with ``overwrite``.
    """
    for path in paths:
        path = Path(path)
        _writable_folder(path.parent)
        if path.is_dir():
            raise IsADirectoryError(f"{path}: is a folder, where an output file is to be written")
        if not overwrite and (path.exists() or path.is_symlink()):
            raise FileExistsError(f"{path}: exists; pass --overwrite to replace it")


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
