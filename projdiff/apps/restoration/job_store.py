"""Exactly-once, kill-safe completion of job items (the bookkeeping folder ``OUT/.projdiff-job``).

An attempt writes all files of an item into a staging folder of its own; one ``rename`` of that
folder to ``done/<key>`` commits the item; then each file is moved (``rename`` again) to its output
name. ``done/<key>`` always keeps ``record.json``, so a second rename onto it fails: at most one
attempt per item ever commits, whatever was killed and whichever processes ran. After a kill,
:meth:`JobStore.recover` deletes attempts that did not commit and finishes moving the files of those
that did. So a file under an output name is always complete and always comes from the item's one
committed attempt, and nothing temporary ever appears outside ``.projdiff-job``. The record keeps
the SHA-256 of every output; an item whose outputs were deleted or changed since is withdrawn by
``recover`` and runs again.

Layout of ``OUT/.projdiff-job``::

    staging/<key>.<attempt>/   an attempt in progress: the item's files, then record.json
    done/<key>/record.json     the committed attempt (with files not yet moved, after a kill)
    failed/<key>.json          the last error of an item that is not done
    attempts/<attempt>.jsonl   one line {"id", "time"} per item attempt started by one process
    lock                       locked (flock) by the main process while a run uses the folder

``<key>`` is the item id made file-safe; ``<attempt>`` names one process run
(``YYYYmmddTHHMMSS-host-pid-random``). The lock is released by the kernel when its holder dies, so a
killed run never blocks the next one.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import secrets
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from projdiff.utils.files import sha256_file, write_json

FOLDER = ".projdiff-job"
RECORD = "record.json"


class JobStore:
    """The bookkeeping of one output folder ``out``, as seen by one process."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.root = self.out / FOLDER
        self.attempt = (f"{time.strftime('%Y%m%dT%H%M%S')}-{socket.gethostname()}-{os.getpid()}-"
                        f"{secrets.token_hex(2)}")
        self._log = None

    @contextlib.contextmanager
    def lock(self, wait: bool = False) -> Iterator[None]:
        """Hold the folder's lock; raises ``FileExistsError`` if another run holds it (or, with ``wait``,
        waits for it: ``restore`` holds it only while it publishes a result)."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    raise FileExistsError(f"{self.out}: another projdiff run is using this output folder") from None
                print(f"{self.out}: waiting for another projdiff run that uses this output folder", file=sys.stderr)
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def recover(self) -> None:
        """Undo uncommitted attempts and finish publishing committed ones (call under :meth:`lock`).

        A committed item whose output files have since been deleted or changed (their SHA-256
        differs from the record's) is withdrawn, so it runs again.
        """
        shutil.rmtree(self.root / "staging", ignore_errors=True)
        for folder in sorted((self.root / "done").glob("*")):
            record = _read_json(folder / RECORD)
            if record is None or not all(self._publish(folder, rel) for rel in record["outputs"]) \
                    or not self._intact(record):
                self._withdraw(folder)

    def withdraw(self, key: str) -> None:
        """Forget a committed item (its outputs stay where they are, to be replaced by a new attempt)."""
        if (self.root / "done" / key).is_dir():
            self._withdraw(self.root / "done" / key)

    def _withdraw(self, folder: Path) -> None:
        withdrawn = self.root / "staging" / f"{folder.name}.withdrawn"
        withdrawn.parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder, withdrawn)
        shutil.rmtree(withdrawn)

    def _intact(self, record: dict) -> bool:
        """Whether the published outputs still have the hashes recorded at commit (records without hashes pass)."""
        hashes = record.get("sha256", {})
        return all(sha256_file(self.out / rel) == digest for rel, digest in hashes.items())

    def is_done(self, key: str) -> bool:
        return (self.root / "done" / key / RECORD).is_file()

    def begin(self, key: str, item_id: str) -> Path:
        """Log the start of an attempt at ``item_id``; returns its empty staging folder."""
        if self._log is None:
            (self.root / "attempts").mkdir(parents=True, exist_ok=True)
            self._log = open(self.root / "attempts" / f"{self.attempt}.jsonl", "a", buffering=1)
        self._log.write(json.dumps({"id": item_id, "time": round(time.time(), 3)}) + "\n")
        staging = self.root / "staging" / f"{key}.{self.attempt}"
        staging.mkdir(parents=True)
        return staging

    def commit(self, key: str, staging: Path, record: dict) -> bool:
        """Commit the files in ``staging`` (named as the last part of ``record["outputs"]``, paths
        relative to ``out``) and publish them; returns False, discarding them, if the item was
        already committed by another attempt. Adds the outputs' SHA-256 to the record as ``sha256``."""
        record["sha256"] = {rel: sha256_file(staging / Path(rel).name) for rel in record["outputs"]}
        write_json(staging / RECORD, record)
        target = self.root / "done" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(staging, target)
        except OSError:
            if not self.is_done(key):
                raise
            self.discard(staging)
            return False
        for rel in record["outputs"]:
            self._publish(target, rel)
        (self.root / "failed" / f"{key}.json").unlink(missing_ok=True)
        return True

    def discard(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)

    def fail(self, key: str, record: dict) -> None:
        """Keep the error of an attempt that failed (the item stays pending)."""
        write_json(self.root / "failed" / f"{key}.json", record)

    def record(self, key: str) -> dict | None:
        """The committed record of an item, else its last failure, else None."""
        return _read_json(self.root / "done" / key / RECORD) or _read_json(self.root / "failed" / f"{key}.json")

    def attempts(self) -> collections.Counter:
        """Number of attempts ever started per item id (all runs, all processes)."""
        counts: collections.Counter = collections.Counter()
        for log in (self.root / "attempts").glob("*.jsonl"):
            for line in log.read_text().splitlines():
                with contextlib.suppress(json.JSONDecodeError):  # a line cut short by a kill
                    counts[json.loads(line)["id"]] += 1
        return counts

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _publish(self, committed: Path, rel: str) -> bool:
        """Move one committed file to its output name (if not done yet); True if it is there."""
        source, target = committed / Path(rel).name, self.out / rel
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
        return target.is_file()


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
