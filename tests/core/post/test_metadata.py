"""`postdata_metadata.json` exactly as postcli writes it, and post-rs's variant (spec/post.md §1.4)."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from core.post import metadata as md
from core.post.metadata import MetadataError, PostMetadata

NODE = bytes(range(32))
ATX = bytes(range(100, 132))

# What Go's json.MarshalIndent(shared.PostMetadata, "", "\t") gives: field order of the struct,
# standard base64 for []byte, omitempty on Nonce/NonceValue/LastPosition, NonceValue as hex.
GO_FULL = (
    "{\n"
    '\t"NodeId": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",\n'
    '\t"CommitmentAtxId": "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=",\n'
    '\t"LabelsPerUnit": 4294967296,\n'
    '\t"NumUnits": 4,\n'
    '\t"MaxFileSize": 4294967296,\n'
    '\t"Nonce": 165545,\n'
    '\t"NonceValue": "00001f81fadfc488b990c940aba8367a",\n'
    '\t"LastPosition": 17179869184\n'
    "}"
)
GO_MINIMAL = (
    "{\n"
    '\t"NodeId": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",\n'
    '\t"CommitmentAtxId": "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=",\n'
    '\t"LabelsPerUnit": 64,\n'
    '\t"NumUnits": 1,\n'
    '\t"MaxFileSize": 1024\n'
    "}"
)


def full() -> PostMetadata:
    return PostMetadata(NODE, ATX, 2**32, 4, 2**32, 165545, bytes.fromhex("00001f81fadfc488b990c940aba8367a"), 2**34)


def test_base64_fixtures_are_the_ids():
    assert base64.b64decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") == NODE
    assert base64.b64decode("ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=") == ATX


def test_writes_go_format():
    assert full().to_json() == GO_FULL
    assert PostMetadata(NODE, ATX, 64, 1, 1024).to_json() == GO_MINIMAL


def test_reads_go_format():
    assert PostMetadata.from_json(GO_FULL) == full()
    assert PostMetadata.from_json(GO_MINIMAL) == PostMetadata(NODE, ATX, 64, 1, 1024)


def test_reads_post_rs_nulls():
    text = (
        '{"NodeId":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",'
        '"CommitmentAtxId":"ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=",'
        '"LabelsPerUnit":64,"NumUnits":2,"MaxFileSize":1024,"Nonce":null,"LastPosition":null}'
    )
    assert PostMetadata.from_json(text) == PostMetadata(NODE, ATX, 64, 2, 1024)
    with_nonce = text.replace('"Nonce":null', '"Nonce":7')
    m = PostMetadata.from_json(with_nonce)
    assert (m.nonce, m.nonce_value, m.last_position) == (7, None, None)


def test_keys_match_case_insensitively_like_go():
    text = GO_MINIMAL.replace('"NumUnits"', '"numunits"')
    assert PostMetadata.from_json(text).num_units == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "not a JSON object"),
        ("{", "not valid JSON"),
        (GO_MINIMAL.replace('\t"NumUnits": 1,\n', ""), "lacks NumUnits"),
        (GO_MINIMAL.replace("AAECAwQF", "AAEC!wQF"), "NodeId is not valid base64"),
        (GO_MINIMAL.replace("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "AAEC"), "NodeId must be 32 bytes"),
        (GO_MINIMAL.replace('"NumUnits": 1', '"NumUnits": "1"'), "NumUnits is not an integer"),
        (GO_MINIMAL.replace('"NumUnits": 1', '"NumUnits": 4294967296'), "num_units is out of range"),
        (GO_FULL.replace("00001f81", "zz001f81"), "NonceValue is not valid hex"),
    ],
)
def test_rejects_malformed(text, message):
    with pytest.raises(MetadataError, match=message):
        PostMetadata.from_json(text)


def test_save_load_atomic_0600(tmp_path):
    path = md.save(tmp_path, full())
    assert path.name == "postdata_metadata.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text() == GO_FULL
    assert md.load(tmp_path) == full()
    md.save(tmp_path, PostMetadata(NODE, ATX, 64, 1, 1024))  # replaces
    assert path.read_text() == GO_MINIMAL
    assert [p.name for p in tmp_path.iterdir()] == ["postdata_metadata.json"]  # no temp files left


def test_load_errors(tmp_path):
    with pytest.raises(MetadataError, match="not a PoST data directory"):
        md.load(tmp_path)
    (tmp_path / "postdata_metadata.json").write_text("{}")
    with pytest.raises(MetadataError, match="lacks NodeId"):
        md.load(tmp_path)


def test_load_file_accepts_file_or_directory(tmp_path):
    md.save(tmp_path, full())
    assert md.load_file(tmp_path) == md.load_file(tmp_path / "postdata_metadata.json") == full()


def test_num_labels():
    assert full().num_labels == 2**34
