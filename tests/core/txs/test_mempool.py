"""Mempool admission and projection; fees are the spec's worked gas numbers (spec/wallet.md §3.5)."""

import dataclasses

import pytest
from nacl.signing import SigningKey

from core.tx import build
from core.tx.signing import combine, sign_part, sign_single
from core.tx.templates import multisig_args, wallet_principal
from core.txs.mempool import Mempool, MempoolError
from core.vm.vm import VM, MemoryAccounts

GENESIS = b"\x05" * 20
KEY, OTHER = SigningKey(b"\x01" * 32), SigningKey(b"\x02" * 32)
ALICE = wallet_principal(bytes(KEY.verify_key))
DEST = wallet_principal(bytes(OTHER.verify_key))
SMH = 10**9
SPEND_FEE = 36090  # gas of a wallet spend with a 4-byte compact amount, at gas price 1
SPAWN_FEE = 100432


def spend(nonce, amount=SMH // 10, gas_price=1, key=KEY):
    tx = build.spend(ALICE, DEST, amount, nonce, max(gas_price, 1))
    return sign_single(dataclasses.replace(tx, gas_price=gas_price), bytes(key), GENESIS).raw()


@pytest.fixture
def spawned():
    store = MemoryAccounts({ALICE: SMH})
    outcome = VM(GENESIS, 19).apply(store, 20, [sign_single(build.wallet_spawn(bytes(KEY.verify_key)), bytes(KEY), GENESIS).raw()])
    store.commit(outcome)
    return store


def test_projection_counts_every_pending_transaction(spawned):
    pool = Mempool(GENESIS, spawned)
    start = spawned.account(ALICE).balance
    assert start == SMH - SPAWN_FEE
    for nonce in (1, 2, 3):
        pool.add(spend(nonce), received=nonce)
    projection = pool.projection(ALICE)
    assert projection.next_nonce == 4
    assert projection.balance == start - 3 * (SMH // 10 + SPEND_FEE)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x00\x01", "malformed"),
        (spend(0), "bad nonce"),
        (spend(1, key=OTHER), "verify"),
        (spend(1, gas_price=0), "gas price"),
    ],
)
def test_rejections(spawned, raw, reason):
    with pytest.raises(MempoolError, match=reason):
        Mempool(GENESIS, spawned).add(raw, 0)


def test_duplicate_and_unspawned(spawned):
    pool = Mempool(GENESIS, spawned)
    pool.add(spend(1), 0)
    with pytest.raises(MempoolError, match="already exists"):
        pool.add(spend(1), 1)
    stranger = sign_single(build.spend(DEST, ALICE, 1, 0), bytes(OTHER), GENESIS).raw()
    with pytest.raises(MempoolError, match="not spawned"):
        pool.add(stranger, 0)


def test_better_fee_replaces_same_nonce(spawned):
    pool = Mempool(GENESIS, spawned)
    cheap = pool.add(spend(1, gas_price=1), 0)
    with pytest.raises(MempoolError, match="equal or higher fee"):
        pool.add(spend(1, amount=5, gas_price=1), 1)
    dear = pool.add(spend(1, gas_price=2), 2)
    assert cheap.tx.id not in pool and dear.tx.id in pool
    assert len(pool) == 1


def test_balance_must_cover_everything_before(spawned):
    pool = Mempool(GENESIS, spawned)
    balance = spawned.account(ALICE).balance
    first = balance // 2  # a 4-byte compact amount (< 2^30)
    pool.add(spend(1, amount=first), 0)
    with pytest.raises(MempoolError, match="insufficient balance"):
        pool.add(spend(2, amount=balance - first), 1)
    affordable = balance - first - 2 * SPEND_FEE
    pool.add(spend(2, amount=affordable), 2)
    assert pool.projection(ALICE).balance == 0
    # a better-paying replacement of nonce 1 that spends more makes nonce 2 unaffordable: it is evicted
    pool.add(spend(1, amount=first + 10, gas_price=2), 3)
    assert [p.tx.nonce for p in pool.pending(ALICE)] == [1]


def test_per_account_limit(spawned):
    pool = Mempool(GENESIS, spawned, max_per_account=2)
    pool.add(spend(1, amount=1), 0)
    pool.add(spend(2, amount=1), 0)
    with pytest.raises(MempoolError, match="too many"):
        pool.add(spend(3, amount=1), 0)


def test_applied_layer_prunes_pool(spawned):
    pool = Mempool(GENESIS, spawned)
    txs = [spend(n, amount=1) for n in (1, 2)]
    for raw in txs:
        pool.add(raw, 0)
    outcome = VM(GENESIS, 19).apply(spawned, 21, txs[:1])
    spawned.commit(outcome)
    pool.on_layer_applied([r.tx_id for r in outcome.results])
    assert [p.tx.nonce for p in pool.pending(ALICE)] == [2]
    assert pool.projection(ALICE).next_nonce == 3


def test_multisig_needs_required_parts():
    keys = [bytes(KEY.verify_key), bytes(OTHER.verify_key)]
    spawn_tx = build.multisig_spawn(multisig_args(2, keys))
    store = MemoryAccounts({spawn_tx.principal: SMH})
    pool = Mempool(GENESIS, store)
    one_part = combine(spawn_tx, [sign_part(spawn_tx, bytes(KEY), GENESIS, 0)], 1)
    with pytest.raises(MempoolError, match="malformed"):  # a self-spawn names Required: the bytes are short
        pool.add(one_part.raw(), 0)
    both = combine(spawn_tx, [sign_part(spawn_tx, bytes(k), GENESIS, i) for i, k in enumerate((KEY, OTHER))], 2)
    assert pool.add(both.raw(), 0).fee == 124968
    store.commit(VM(GENESIS, 19).apply(store, 20, [both.raw()]))
    spend_tx = build.spend(spawn_tx.principal, DEST, 1, nonce=1)
    with pytest.raises(MempoolError, match="verify"):  # a spend does not: the principal's state does
        pool.add(combine(spend_tx, [sign_part(spend_tx, bytes(KEY), GENESIS, 0)], 1).raw(), 1)


def test_select_orders_by_gas_price_and_keeps_nonce_order(spawned):
    other_key = SigningKey(b"\x03" * 32)
    bob = wallet_principal(bytes(other_key.verify_key))
    spawned.accounts[bob] = spawned.account(bob).replace(balance=SMH)
    pool = Mempool(GENESIS, spawned)
    pool.add(spend(1, gas_price=1), 0)
    pool.add(spend(2, gas_price=5), 1)
    bob_spawn = sign_single(build.wallet_spawn(bytes(other_key.verify_key), gas_price=3), bytes(other_key), GENESIS)
    pool.add(bob_spawn.raw(), 2)
    chosen = pool.select(10, gas_limit=10**9)
    assert [(p.tx.principal, p.tx.nonce) for p in chosen] == [(bob, 0), (ALICE, 1), (ALICE, 2)]
    assert [p.tx.nonce for p in pool.select(10, gas_limit=SPAWN_FEE)] == [0]  # only bob's spawn fits
