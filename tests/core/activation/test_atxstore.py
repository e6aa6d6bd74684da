"""AtxStore: ATX rows + blobs in one transaction, identity/epoch queries, weights, malfeasance."""

import dataclasses
import sqlite3

import pytest

from core.activation.atxstore import AtxStore
from core.activation.validation import AtxInfo
from core.mesh.store import MeshStore

GOLDEN = b"\x60" * 32


def info(n: int, node: bytes, epoch: int, seq: int = 0, units: int = 2, base: int = 0, ticks: int = 10) -> AtxInfo:
    return AtxInfo(bytes([n]) * 32, node, epoch, seq, bytes(4) + bytes([n]) * 20, units, base, ticks, 7 + n, GOLDEN)


A, B, C = b"\xaa" * 32, b"\xbb" * 32, b"\xcc" * 32


@pytest.fixture
def store(tmp_path):
    mesh = MeshStore(tmp_path / "state.sql")
    yield AtxStore(mesh)
    mesh.close()


def test_add_then_get_round_trips_every_field(store):
    a = info(1, A, epoch=3, seq=2, units=4, base=100, ticks=25)
    assert store.add(a, b"blob-1", received=1000.5)
    assert store.get(a.id) == a
    assert store.blob(a.id) == b"blob-1"
    assert store.received(a.id) == pytest.approx(1000.5)
    assert store.weight(a.id) == 100  # 4 units × 25 ticks
    assert store.get(b"\x00" * 32) is None and store.blob(b"\x00" * 32) is None


def test_vrf_nonce_uses_all_64_bits(store):
    big = dataclasses.replace(info(2, B, epoch=3), vrf_nonce=2**64 - 5)
    store.add(big, b"blob")
    assert store.get(big.id).vrf_nonce == 2**64 - 5
    assert [a.vrf_nonce for a in store.targeting(4)] == [2**64 - 5]


def test_adding_twice_keeps_the_first(store):
    a = info(1, A, 1)
    assert store.add(a, b"first")
    assert not store.add(a, b"second")
    assert store.blob(a.id) == b"first"


def test_add_is_one_transaction(store):
    a = info(1, A, 1)
    store.mesh.conn.execute("INSERT INTO atx_blobs (id, atx) VALUES (?, ?)", (a.id, b"stale"))  # forces the 2nd insert to fail
    with pytest.raises(sqlite3.IntegrityError):
        store.add(a, b"new")
    assert store.get(a.id) is None  # the atxs row was rolled back with it


def test_identity_queries(store):
    first, second = info(1, A, 1, seq=0), info(2, A, 3, seq=1)
    store.add(first, b"1")
    store.add(second, b"2")
    store.add(info(3, B, 3), b"3")
    assert store.by_identity(A, 1) == first
    assert store.by_identity(A, 3) == second
    assert store.by_identity(A, 2) is None
    assert store.latest_by_identity(A) == second
    assert store.latest_by_identity(C) is None


def test_epoch_targeting_and_weights(store):
    store.add(info(1, A, 4, units=2, ticks=10), b"1", received=50.0)
    store.add(info(2, B, 4, units=3, ticks=5), b"2", received=60.0)
    store.add(info(3, C, 5), b"3")
    targeting = store.targeting(5)  # published in 4
    assert [a.id for a in targeting] == [bytes([1]) * 32, bytes([2]) * 32]
    assert [(a.weight, a.node_id, a.received) for a in targeting] == [(20, A, 50.0), (15, B, 60.0)]
    assert store.epoch_weights(5) == {bytes([1]) * 32: 20, bytes([2]) * 32: 15}
    assert store.total_weight(5) == 35
    assert store.ids_published_in(4) == [bytes([1]) * 32, bytes([2]) * 32]
    assert store.targeting(7) == []


def test_malicious_identities_weigh_nothing(store):
    store.add(info(1, A, 4, units=2, ticks=10), b"1")
    store.add(info(2, B, 4, units=3, ticks=5), b"2")
    assert store.set_malicious(A, b"proof-1", received=10.0)
    assert not store.set_malicious(A, b"proof-2")  # the first proof stays
    assert store.is_malicious(A) and not store.is_malicious(B)
    assert store.malicious_identities() == [A]
    assert store.malfeasance_proof(A) == b"proof-1"
    assert store.epoch_weights(5) == {bytes([1]) * 32: 0, bytes([2]) * 32: 15}
    assert store.total_weight(5) == 15
    assert store.weight(bytes([1]) * 32) == 0
    assert [a.malicious for a in store.targeting(5)] == [True, False]


def test_highest_tick_for_positioning(store):
    store.add(info(1, A, 1, base=0, ticks=10), b"1")  # height 10
    store.add(info(2, B, 2, base=10, ticks=30), b"2")  # height 40
    store.add(info(3, C, 3, base=40, ticks=30), b"3")  # height 70, published later
    assert store.highest_tick(0) is None
    assert store.highest_tick(1).id == bytes([1]) * 32
    assert store.highest_tick(2).id == bytes([2]) * 32
    assert store.highest_tick(9).id == bytes([3]) * 32
    store.set_malicious(C, b"p")
    assert store.highest_tick(9).id == bytes([2]) * 32  # a malicious identity's ATX is not a candidate


def test_data_survives_reopening(tmp_path):
    mesh = MeshStore(tmp_path / "state.sql")
    a = info(1, A, 2)
    AtxStore(mesh).add(a, b"blob")
    AtxStore(mesh).set_malicious(B, b"p")
    mesh.close()
    again = AtxStore(MeshStore(tmp_path / "state.sql"))
    assert again.get(a.id) == a and again.blob(a.id) == b"blob" and again.is_malicious(B)
    again.mesh.close()
