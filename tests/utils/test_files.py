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


def test_check_free_refuses_what_would_be_replaced_or_cannot_be_written(tmp_path):
    """Guards check_free's refusals, each naming the path: an existing file or a dangling symlink
    (unless overwrite), a folder where a file is to go and a file where a folder is to go (always)."""
    from projdiff.utils.files import check_free

    (tmp_path / "old.png").write_bytes(b"x")
    (tmp_path / "link.png").symlink_to(tmp_path / "nowhere.png")
    (tmp_path / "dir.png").mkdir()
    (tmp_path / "plain").write_bytes(b"x")
    check_free([tmp_path / "new.png", tmp_path / "deep" / "er" / "new.png"], overwrite=False)
    check_free([tmp_path / "old.png", tmp_path / "link.png"], overwrite=True)
    for name in ("old.png", "link.png"):
        with pytest.raises(FileExistsError, match=rf"{name}: exists; pass --overwrite to replace it"):
            check_free([tmp_path / "new.png", tmp_path / name], overwrite=False)
    with pytest.raises(IsADirectoryError, match=r"dir\.png: is a folder, where an output file is to be written"):
        check_free([tmp_path / "dir.png"], overwrite=True)
    with pytest.raises(NotADirectoryError, match=r"plain: is a file, where an output folder is to be"):
        check_free([tmp_path / "plain" / "sub" / "out.png"], overwrite=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any folder")
def test_check_free_refuses_a_folder_that_is_not_writable(tmp_path):
    """Guards the PermissionError for an output folder without write permission."""
    from projdiff.utils.files import check_free

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match=r"locked: the output folder is not writable"):
            check_free([locked / "new" / "out.png"], overwrite=False)
    finally:
        locked.chmod(0o700)


def test_sha256_file_reads_files_larger_than_one_block(tmp_path):
    """Guards sha256_file against hashlib on a file longer than its 1 MiB read block, and on an empty file."""
    import hashlib

    from projdiff.utils.files import sha256_file

    data = bytes(range(256)) * (5 * 4096 + 3)                     # 5 MiB + 768 bytes
    (tmp_path / "big").write_bytes(data)
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "big") == hashlib.sha256(data).hexdigest()
    assert sha256_file(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_umask_is_read_without_changing_it(monkeypatch):
    """Guards _umask, from /proc and from the os.umask fallback: the process's mask, left as it was."""
    from projdiff.utils import files

    old = os.umask(0o027)
    try:
        assert files._umask() == 0o027
        real = files.Path
        monkeypatch.setattr(files, "Path", lambda *a: real("/nonexistent/status"))   # no /proc
        assert files._umask() == 0o027
        assert os.umask(0o027) == 0o027
    finally:
        os.umask(old)
