"""Resumable, parallel-safe benchmark records: one JSON line per finished unit of work.

A benchmark enumerates its units (e.g. (variation, arm, lesion) or (seed, arm)), each with a key.
``Records(folder)`` keeps one file per writer, ``<folder>/records-<shard>.jsonl``: a process only
appends to its own file (a line is written and flushed whole; a line cut short by a kill is
ignored on reading), so processes never write the same file, and ``done()`` merges all of them.
A rerun skips the keys already done; ``--shard K/N`` gives process K the units whose index is K
modulo N, so N processes (or N machines sharing the folder) split the work.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def parse_shard(text: str) -> tuple[int, int]:
    """``'K/N'`` -> (K, N) with 0 <= K < N; an argparse ``type``, so a bad value ends in ``parser.error``."""
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N, e.g. 0/2, got {text!r}") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"expected 0 <= K < N, got {text!r}")
    return k, n


class Records:
    """The records of one benchmark run in ``folder`` (see the module docstring)."""

    def __init__(self, folder: str | Path, shard: tuple[int, int] = (0, 1), writer: str | None = None):
        """``writer`` names this writer's file (``records-<writer>.jsonl``); by default the shard does (``0of2``)."""
        self.folder = Path(folder)
        self.shard = shard
        self.path = self.folder / f"records-{writer or f'{shard[0]}of{shard[1]}'}.jsonl"

    def done(self) -> dict[str, dict]:
        """key -> record, over every writer's file."""
        out = {}
        for path in sorted(self.folder.glob("records-*.jsonl")):
            for line in path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue                                   # cut short by a kill
                out[record["key"]] = record
        return out

    def mine(self, keys: list[str]) -> list[str]:
        """The keys of this shard that are not done yet, in order."""
        done = self.done()
        k, n = self.shard
        return [key for i, key in enumerate(keys) if i % n == k and key not in done]

    def add(self, key: str, record: dict) -> None:
        """Append ``record`` under ``key`` (one line, flushed to disk)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        cut = self.path.is_file() and self.path.stat().st_size and not self.path.read_bytes().endswith(b"\n")
        with open(self.path, "a") as handle:
            handle.write(("\n" if cut else "") + json.dumps({"key": key, **record}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
