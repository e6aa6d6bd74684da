"""File layout of PoST data (spec/post.md §1.3) and what a data directory holds."""

from __future__ import annotations

import pytest

from core.post.layout import (
    Layout,
    LayoutError,
    data_files,
    disk_state,
    file_name,
    iter_batches,
    read_labels,
)


def test_mainnet_files_per_unit():
    layout = Layout.of(100, 2**32, 4 * 2**30)  # postcli -numUnits 100 -printNumFiles → 1600
    assert layout.labels_per_file == 2**28
    assert layout.num_files == 1600


def test_post_rs_num_files_vectors():
    assert Layout.of(1, 1, 16).num_files == 1
    assert Layout.of(77, 100, 1024).num_files == 121  # 7700 labels, 64 per file


def test_file_ranges_and_last_file():
    layout = Layout.of(77, 100, 1024)
    assert layout.file_range(0) == (0, 64)
    assert layout.file_range(120) == (7680, 7700)
    assert layout.file_labels(120) == 20
    assert layout.file_bytes(119) == 1024
    with pytest.raises(LayoutError):
        layout.file_range(121)


def test_locate():
    layout = Layout.of(2, 64, 1024)
    assert layout.locate(0) == (0, 0)
    assert layout.locate(63) == (0, 1008)
    assert layout.locate(64) == (1, 0)
    with pytest.raises(LayoutError):
        layout.locate(128)


def test_bad_layouts():
    with pytest.raises(LayoutError):
        Layout(10, 1000)  # not a multiple of 16
    with pytest.raises(LayoutError):
        Layout(0, 1024)


def test_file_names_are_parsed_by_number(tmp_path):
    for name in ("postdata_0.bin", "postdata_10.bin", "postdata_2.bin", "postdata_x.bin", "postdata_1.bin.tmp"):
        (tmp_path / name).write_bytes(b"")
    assert sorted(data_files(tmp_path)) == [0, 2, 10]
    assert file_name(10) == "postdata_10.bin"


def test_duplicate_numbers_are_an_error(tmp_path):
    (tmp_path / "postdata_1.bin").write_bytes(b"")
    (tmp_path / "postdata_01.bin").write_bytes(b"")
    with pytest.raises(LayoutError, match="two files claim number 1"):
        data_files(tmp_path)


def test_disk_state(tmp_path):
    layout = Layout.of(3, 64, 1024)  # 3 files of 1024 bytes
    (tmp_path / "postdata_0.bin").write_bytes(bytes(1024))
    (tmp_path / "postdata_1.bin").write_bytes(bytes(100))  # 6 whole labels and a torn one
    (tmp_path / "postdata_5.bin").write_bytes(b"")
    state = disk_state(tmp_path, layout)
    f0, f1, f2 = state.files
    assert (f0.complete, f0.labels_present) == (True, 64)
    assert (f1.complete, f1.torn, f1.labels_present) == (False, True, 6)
    assert (f2.exists, f2.labels_present) == (False, 0)
    assert state.labels_present == 70
    assert [p.name for p in state.extra] == ["postdata_5.bin"]
    assert not state.complete
    assert state.complete_range(0, 0) and not state.complete_range(0, 1)


def _write(tmp_path, layout, data):
    for k in range(layout.num_files):
        start, end = layout.file_range(k)
        (tmp_path / file_name(k)).write_bytes(data[16 * start : 16 * end])


def test_read_labels_across_files(tmp_path):
    layout = Layout.of(3, 64, 1024)
    data = bytes(i % 251 for i in range(3 * 1024))
    _write(tmp_path, layout, data)
    assert read_labels(tmp_path, layout, 60, 10) == data[60 * 16 : 70 * 16]
    assert b"".join(chunk for _, chunk in iter_batches(tmp_path, layout, 160)) == data
    firsts = [first for first, _ in iter_batches(tmp_path, layout, 160)]
    assert firsts[:8] == [0, 10, 20, 30, 40, 50, 60, 64]  # batches never span files


def test_missing_or_short_file_is_named(tmp_path):
    layout = Layout.of(3, 64, 1024)
    _write(tmp_path, layout, bytes(3 * 1024))
    (tmp_path / "postdata_1.bin").unlink()
    with pytest.raises(LayoutError, match="postdata_1.bin"):
        list(iter_batches(tmp_path, layout))
    (tmp_path / "postdata_1.bin").write_bytes(bytes(512))
    with pytest.raises(LayoutError, match="postdata_1.bin holds 512 bytes"):
        list(iter_batches(tmp_path, layout))
    with pytest.raises(LayoutError, match="shorter"):
        read_labels(tmp_path, layout, 90, 10)
