import os
import stat

import pytest

from core import atomicfile


def test_write_new_creates_0600_and_never_overwrites(tmp_path):
    target = tmp_path / "key"
    atomicfile.write_new(target, b"secret")
    assert target.read_bytes() == b"secret"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        atomicfile.write_new(target, b"other")
    assert target.read_bytes() == b"secret"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key"]  # no temp file left behind


def test_write_new_refuses_dangling_symlink(tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        atomicfile.write_new(link, b"x")
    assert not (tmp_path / "nowhere").exists()


def test_replace_swaps_content_and_mode(tmp_path):
    target = tmp_path / "meta.json"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    atomicfile.replace(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


def test_ensure_directory(tmp_path):
    d = tmp_path / "a" / "b"
    atomicfile.ensure_directory(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        atomicfile.ensure_directory(tmp_path / "file")
