"""The PoET database: registrations, closed rounds, proofs; everything survives a reopen (spec/poet.md §2.6)."""

import sqlite3

import pytest

from core.poet.store import DB_NAME, AddResult, RoundState, Store, StoreError, StoredProof


def node(i: int) -> bytes:
    return bytes([i]) * 32


@pytest.fixture
def store(tmp_path):
    s = Store.in_datadir(tmp_path)
    yield s
    s.close()


def test_one_registration_per_node_id_per_round(store):
    assert store.add_member(0, node(1), b"a" * 32, 10) is AddResult.ADDED
    assert store.add_member(0, node(1), b"a" * 32, 10) is AddResult.DUPLICATE
    assert store.add_member(0, node(1), b"b" * 32, 10) is AddResult.CONFLICT
    assert store.registration(0, node(1)) == b"a" * 32  # no overwrite
    assert store.add_member(1, node(1), b"b" * 32, 10) is AddResult.ADDED  # another round is fine
    assert store.member_count(0) == 1 and store.member_count(1) == 1


def test_members_come_in_node_id_byte_order(store):
    ids = [bytes([0xFF]) + bytes(31), bytes([0x00, 0xFF]) + bytes(30), bytes([0x80]) * 32, bytes(32)]
    for k, nid in enumerate(ids):
        store.add_member(5, nid, bytes([k]) * 32, 10)
    order = sorted(range(len(ids)), key=lambda k: ids[k])
    assert store.members(5) == [bytes([k]) * 32 for k in order]


def test_round_capacity(store):
    for i in range(3):
        assert store.add_member(0, node(i), node(i), 3) is AddResult.ADDED
    assert store.add_member(0, node(9), node(9), 3) is AddResult.FULL
    assert store.add_member(0, node(1), node(1), 3) is AddResult.DUPLICATE  # a repeat still succeeds


def test_everything_survives_a_reopen(tmp_path):
    s = Store.in_datadir(tmp_path)
    s.add_member(3, node(2), b"x" * 32, 10)
    s.set_meta("pow_challenge", b"c" * 32)
    s.close_round(3, b"stmt", 1, 100.0, RoundState.CLOSED)
    s.set_round_state(3, RoundState.EXECUTING)
    s.publish_proof(StoredProof(3, b"proof-bytes", 1234, b"stmt", b"k" * 32, 200.0))
    s.close()
    again = Store.in_datadir(tmp_path)
    assert again.members(3) == [b"x" * 32]
    assert again.get_meta("pow_challenge") == b"c" * 32
    closed = again.closed_round(3)
    assert (closed.statement, closed.members, closed.state) == (b"stmt", 1, RoundState.DONE)
    p = again.proof(3)
    assert (p.proof, p.leaves, p.statement, p.pubkey) == (b"proof-bytes", 1234, b"stmt", b"k" * 32)
    assert again.proof_summaries() == [(3, 1234, 200.0)]
    assert again.last_closed_round() == 3
    again.close()


def test_round_states_and_queries(store):
    assert store.last_closed_round() is None
    store.close_round(0, b"", 0, 1.0, RoundState.SKIPPED)
    store.close_round(1, b"s1", 2, 2.0, RoundState.CLOSED)
    store.close_round(2, b"s2", 0, 3.0, RoundState.CLOSED)
    store.set_round_state(2, RoundState.EXECUTING)
    pending = store.closed_rounds((RoundState.CLOSED, RoundState.EXECUTING))
    assert [(r.round, r.state) for r in pending] == [(1, RoundState.CLOSED), (2, RoundState.EXECUTING)]
    assert store.closed_round(7) is None and store.proof(7) is None
    with pytest.raises(sqlite3.IntegrityError):
        store.close_round(1, b"again", 0, 4.0, RoundState.CLOSED)  # a statement is fixed once


def test_proofs_are_written_once(store):
    store.close_round(0, b"s", 0, 1.0, RoundState.EXECUTING)
    store.publish_proof(StoredProof(0, b"p", 150, b"s", b"k", 2.0))
    with pytest.raises(sqlite3.IntegrityError):
        store.publish_proof(StoredProof(0, b"other", 151, b"s", b"k", 3.0))
    assert store.proof(0).proof == b"p"
    assert store.closed_round(0).state is RoundState.DONE


def test_readonly_reader_sees_the_writer(tmp_path, store):
    store.add_member(0, node(1), node(1), 10)
    reader = Store.in_datadir(tmp_path, readonly=True)
    assert reader.members(0) == [node(1)]
    with pytest.raises(sqlite3.OperationalError):
        reader.add_member(0, node(2), node(2), 10)
    reader.close()


def test_missing_newer_and_damaged_databases(tmp_path):
    with pytest.raises(StoreError, match="no PoET database"):
        Store.in_datadir(tmp_path / "nowhere", readonly=True)
    newer = tmp_path / "newer"
    newer.mkdir()
    db = sqlite3.connect(newer / DB_NAME)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(StoreError, match="newer smesh"):
        Store.in_datadir(newer)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / DB_NAME).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open PoET database"):
        Store.in_datadir(junk)
