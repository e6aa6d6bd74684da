import sqlite3

import pytest
from nacl.signing import SigningKey

from core.crypto.signing import public_key_of
from core.mesh.schema import STATE_MIGRATIONS
from core.mesh.store import LocalStore, MeshStore, StoreError, open_database
from core.tx import build
from core.tx.signing import sign_single
from core.tx.transaction import decode_tx
from core.tx.templates import wallet_principal
from core.types.ballot import VRF_PROOF_SIZE, Ballot, Block, EpochData, InnerBallot, InnerBlock, Votes, VotingEligibility
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


# --- consensus records: ballots, blocks, hare outputs and certificates, beacons, layer hashes --

SEED = bytes(range(32))


def _ballot(layer: int, atx_id: bytes, seed: bytes = SEED) -> Ballot:
    inner = InnerBallot(layer, atx_id, bytes(32), bytes(20), EpochData(bytes(32), b"abcd", 3))
    proofs = (VotingEligibility(0, bytes(VRF_PROOF_SIZE)),)
    return Ballot.sign(inner, Votes(bytes(20), (), (), ()), proofs, seed, public_key_of(seed), GENESIS)


def _block(layer: int, tx_ids: tuple[bytes, ...] = ()) -> Block:
    return Block(InnerBlock(layer, 100, (), tx_ids))


def test_ballots_round_trip_in_layer_then_arrival_order(store):
    later, first, second = _ballot(22, b"\x01" * 32), _ballot(21, b"\x02" * 32), _ballot(21, b"\x03" * 32)
    for ballot in (later, first, second):
        store.add_ballot(ballot.id, ballot)
    store.add_ballot(first.id, first)  # stored once
    assert store.ballots() == [first, second, later]
    row = store.conn.execute("SELECT atx, layer, pubkey FROM ballots WHERE id = ?", (later.id,)).fetchone()
    assert row == (b"\x01" * 32, 22, public_key_of(SEED))


def test_blocks_round_trip_by_layer(store):
    b22, b21 = _block(22, (b"\x05" * 32,)), _block(21)
    for block in (b22, b21, b22):
        store.add_block(block)
    assert store.blocks() == [b21, b22]


def test_hare_output_keeps_its_certificate(store):
    store.add_hare_output(21, b"\xaa" * 20, None)
    store.add_hare_output(22, b"\xbb" * 20, b"cert-22")
    store.add_hare_output(21, b"\xaa" * 20, b"cert-21")  # the certificate arrives after the hare output
    store.add_hare_output(22, b"\xbb" * 20, None)  # a later plain hare output does not erase it
    assert store.hare_outputs() == [(21, b"\xaa" * 20, b"cert-21"), (22, b"\xbb" * 20, b"cert-22")]


def test_first_beacon_of_an_epoch_stays(store):
    store.add_beacon(2, b"\x01\x02\x03\x04")
    store.add_beacon(3, b"\x05\x06\x07\x08")
    store.add_beacon(2, b"\xff\xff\xff\xff")
    assert store.beacons() == {2: b"\x01\x02\x03\x04", 3: b"\x05\x06\x07\x08"}


def test_transaction_blob(store):
    raw = signed(build.wallet_spawn(bytes(KEY.verify_key)))
    tx = decode_tx(raw)
    assert store.transaction_blob(tx.id) is None
    store.add_transaction(tx.id, raw, tx.principal, tx.nonce, 0)
    assert store.transaction_blob(tx.id) == raw


def test_layer_hashes_are_written_with_the_applied_layer(store):
    store.init_genesis_layer(19, bytes(20), b"g" * 32, b"o" * 32)
    store.init_genesis_layer(19, b"\x01" * 20, b"x" * 32, b"x" * 32)  # a restart leaves it alone
    assert store.layer_hashes(19) == (bytes(20), b"g" * 32, b"o" * 32)
    store.set_weak_coin(20, True)
    outcome = VM_.apply(store.view(19), 20, [])
    store.apply_layer(outcome, b"\x20" * 20, aggregated_hash=b"h" * 32)
    assert store.layer_hashes(20) == (b"\x20" * 20, outcome.state_hash, b"h" * 32)
    assert store.weak_coin(20) is True and store.weak_coin(21) is None
    assert store.applied_layers() == {19: bytes(20), 20: b"\x20" * 20}
    store.set_aggregated_hash(20, b"k" * 32)  # the tortoise changed its opinion, not the block
    assert store.layer_hashes(20)[2] == b"k" * 32
    store.revert_to(19)
    assert store.applied_layers() == {19: bytes(20)}
    assert store.layer_hashes(21) == (None, None, None)



def test_a_transaction_carried_again_by_a_later_block_keeps_its_result(store):
    """Proposals for layer L+1 are built before layer L is applied, so the next block often carries a
    transaction the last one executed; the VM skips it (nonce used), and its result stays."""
    spawn = signed(build.wallet_spawn(bytes(KEY.verify_key)))
    executed = apply(store, 20, [spawn])
    skipped = apply(store, 21, [spawn])
    assert [i.reason for i in skipped.ineffective] == ["nonce 0 is below the account's next nonce 1"]
    spawn_id = executed.results[0].tx_id
    assert store.transaction_result(spawn_id) == (20, TxStatus.SUCCESS, "", executed.results[0].fee)
    store.revert_to(20)  # undoing the later layer leaves the execution alone
    assert store.transaction_result(spawn_id) == (20, TxStatus.SUCCESS, "", executed.results[0].fee)
    store.revert_to(19)
    assert store.transaction_result(spawn_id) is None
    # skipped first (not spawned: a spend), executed later: the execution replaces the skip
    spend = signed(build.spend(ALICE, BOB, SMH, nonce=1))
    apply(store, 20, [spend])
    assert store.transaction_result(decode_tx(spend).id)[:2] == (20, TxStatus.INVALID)
    apply(store, 21, [spawn, spend])
    assert store.transaction_result(decode_tx(spend).id)[:2] == (21, TxStatus.SUCCESS)
