"""Atomic writes: a target holds either its old or its new complete content, never half a file."""

import os

import pytest

from projdiff.utils.files import atomic_write, write_json


def test_a_writer_that_fails_halfway_leaves_the_old_file_intact(tmp_path):
    """Guards writing to a temporary file: a writer given the target itself would leave half a file."""
    target = tmp_path / "out.bin"
    target.write_bytes(b"old complete content")

    def half_then_fail(tmp):
        with open(tmp, "wb") as f:
            f.write(b"new but")
            f.flush()
            assert target.read_bytes() == b"old complete content"    # a reader still sees the old file
            raise RuntimeError("killed halfway")

    with pytest.raises(RuntimeError, match="killed halfway"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old complete content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]       # no temporary file left


def test_a_complete_write_replaces_the_file_with_ordinary_permissions(tmp_path):
    target = tmp_path / "sub" / "out.json"
    write_json(target, {"a": 1})
    write_json(target, {"a": 2})
    assert target.read_text() == '{\n  "a": 2\n}\n'
    mask = os.umask(0o022)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]
