import sqlite3

import pytest
from nacl.signing import SigningKey

from core.mesh.schema import STATE_MIGRATIONS
from core.mesh.store import LocalStore, MeshStore, StoreError, open_database
from core.tx import build
from core.tx.signing import sign_single
from core.tx.transaction import decode_tx
from core.tx.templates import wallet_principal
from core.vm.vm import VM, TxStatus

GENESIS = bytes(20)
KEY = SigningKey(b"\x07" * 32)
ALICE = wallet_principal(bytes(KEY.verify_key))
BOB = b"\x00" * 4 + b"\xbb" * 20
SMH = 10**9
VM_ = VM(GENESIS, effective_genesis=19)


def signed(tx):
    return sign_single(tx, bytes(KEY), GENESIS).raw()


@pytest.fixture
def store(tmp_path):
    s = MeshStore(tmp_path / "state.sql")
    s.put_genesis_accounts({ALICE: 10 * SMH})
    yield s
    s.close()


def apply(store, layer, raws):
    outcome = VM_.apply(store.view(layer - 1), layer, raws)
    for raw in raws:
        tx = decode_tx(raw)
        store.add_transaction(tx.id, raw, tx.principal, tx.nonce, 0)
    store.apply_layer(outcome, block_id=bytes([layer]) * 20)
    return outcome


def test_schema_version_and_wal(tmp_path):
    path = tmp_path / "state.sql"
    MeshStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(STATE_MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute(f"PRAGMA user_version = {len(STATE_MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this smesh"):
        MeshStore(path)


def test_failed_migration_rolls_back(tmp_path):
    with pytest.raises(StoreError, match="migration 2"):
        open_database(tmp_path / "x.sql", ("CREATE TABLE a (x INTEGER)", "CREATE TABLE a (y INTEGER)"))
    conn = open_database(tmp_path / "x.sql", ("CREATE TABLE a (x INTEGER)",))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


def test_genesis_accounts_are_written_once(store):
    store.put_genesis_accounts({ALICE: 1, BOB: 5})
    assert store.account(ALICE).balance == 10 * SMH
    assert store.account(BOB).balance == 0


def test_apply_revert_reapply_gives_identical_state(store):
    spawn = signed(build.wallet_spawn(bytes(KEY.verify_key)))
    spend = signed(build.spend(ALICE, BOB, SMH, nonce=1))
    first = apply(store, 20, [spawn])
    second = apply(store, 21, [spend])
    assert store.last_applied() == 21
    assert store.account(BOB).balance == SMH
    assert store.account(ALICE, at_layer=20).balance == 10 * SMH - first.results[0].fee
    layer, status, message, fee = store.transaction_result(second.results[0].tx_id)
    assert (layer, status, message, fee) == (21, TxStatus.SUCCESS, "", second.results[0].fee)
    hashes = (store.layer_state_hash(20), store.layer_state_hash(21))

    store.revert_to(20)
    assert store.last_applied() == 20
    assert store.account(BOB).balance == 0
    assert store.transaction_result(second.results[0].tx_id) is None
    again = apply(store, 21, [spend])
    assert again.state_hash == second.state_hash
    assert (store.layer_state_hash(20), store.layer_state_hash(21)) == hashes


def test_store_survives_reopen(tmp_path):
    path = tmp_path / "state.sql"
    s = MeshStore(path)
    s.put_genesis_accounts({ALICE: 10 * SMH})
    out = apply(s, 20, [signed(build.wallet_spawn(bytes(KEY.verify_key)))])
    s.close()
    reopened = MeshStore(path)
    assert reopened.layer_state_hash(20) == out.state_hash
    assert reopened.account(ALICE).next_nonce == 1
    reopened.close()


def test_transaction_is_stored_once(store):
    assert store.add_transaction(b"\x01" * 32, b"raw", ALICE, 0, 0)
    assert not store.add_transaction(b"\x01" * 32, b"raw", ALICE, 0, 0)


def test_local_store_key_values(tmp_path):
    local = LocalStore(tmp_path / "local.sql")
    assert local.get("k") is None
    local.put("k", b"1")
    local.put("k", b"2")
    assert local.get("k") == b"2"
    local.close()
