"""The VM against hand-computed balances; gas figures are spec/wallet.md §3.5's worked numbers."""

import dataclasses
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from nacl.signing import SigningKey

from core.crypto.hashing import hash32
from core.tx import build
from core.tx.signing import combine, sign_part, sign_single
from core.tx.templates import Template, compute_principal, multisig_args, vault_args, wallet_principal
from core.vm.rewards import RewardShare, accumulated_subsidy, layer_subsidy
from core.vm.vm import VM, MemoryAccounts, TxStatus, state_hash

GENESIS = bytes.fromhex("9eebff023abb17ccb775c602daade8ed708f0a50")
SMH = 10**9
EFFECTIVE_GENESIS = 19  # standalone: 2 * 10 layers per epoch - 1
LAYER = 100
SPAWN_GAS = 100432  # wallet self-spawn, 148 bytes
SPEND_GAS_4B = 36090  # wallet spend with a 4-byte amount, 120 bytes
MS_SPEND_GAS = 40970  # 2-of-2 multisig spend, 186 bytes
MS_SPAWN_GAS = 124968  # 2-of-2 multisig self-spawn, 248 bytes


def key(n: int) -> SigningKey:
    return SigningKey(bytes([n]) * 32)


def pub(k: SigningKey) -> bytes:
    return bytes(k.verify_key)


def seed(k: SigningKey) -> bytes:
    return bytes(k)


ALICE, BOB, CAROL = key(1), key(2), key(3)
DEST = wallet_principal(pub(CAROL))
VM_ = VM(GENESIS, EFFECTIVE_GENESIS)


def spawned_alice(balance: int = 10 * SMH) -> tuple[MemoryAccounts, bytes]:
    alice = wallet_principal(pub(ALICE))
    store = MemoryAccounts({alice: balance})
    out = VM_.apply(store, LAYER, [sign_single(build.wallet_spawn(pub(ALICE)), seed(ALICE), GENESIS).raw()])
    assert [r.status for r in out.results] == [TxStatus.SUCCESS]
    store.commit(out)
    return store, alice


def test_spawn_then_spend_moves_exact_amounts():
    store, alice = spawned_alice()
    assert store.account(alice).balance == 10 * SMH - SPAWN_GAS
    assert store.account(alice).next_nonce == 1
    assert store.account(alice).template == Template.WALLET.address
    spend = sign_single(build.spend(alice, DEST, SMH, nonce=1), seed(ALICE), GENESIS)
    out = VM_.apply(store, LAYER + 1, [spend.raw()])
    store.commit(out)
    assert out.results[0].fee == SPEND_GAS_4B and out.fees == SPEND_GAS_4B
    assert store.account(alice).balance == 9 * SMH - SPAWN_GAS - SPEND_GAS_4B
    assert store.account(DEST).balance == SMH
    assert {a.address for a in out.accounts} == {alice, DEST}
    assert all(a.layer == LAYER + 1 for a in out.accounts)
    # the same transaction again: its nonce is used up, so it is skipped and costs nothing
    again = VM_.apply(store, LAYER + 2, [spend.raw()])
    assert again.results == () and "nonce" in again.ineffective[0].reason
    assert again.accounts == ()


def test_ineffective_transactions_pay_nothing():
    store, alice = spawned_alice()
    before = store.account(alice)
    bad_sig = sign_single(build.spend(alice, DEST, 1, nonce=1), seed(ALICE), bytes(20))  # other network
    spend = build.spend(alice, DEST, 1, nonce=1)
    zero_price = sign_single(dataclasses.replace(spend, gas_price=0), seed(ALICE), GENESIS)
    unspawned = sign_single(build.spend(wallet_principal(pub(BOB)), DEST, 1, nonce=0), seed(BOB), GENESIS)
    out = VM_.apply(store, LAYER + 1, [b"\x01garbage", bad_sig.raw(), zero_price.raw(), unspawned.raw()])
    reasons = [i.reason for i in out.ineffective]
    assert len(reasons) == 4 and out.results == ()
    assert "malformed" in reasons[0] and "signature" in reasons[1]
    assert "zero gas price" in reasons[2] and "not spawned" in reasons[3]
    assert out.accounts == () and store.account(alice) == before


def test_unfunded_spawn_is_ineffective():
    tx = sign_single(build.wallet_spawn(pub(BOB)), seed(BOB), GENESIS)
    out = VM_.apply(MemoryAccounts(), LAYER, [tx.raw()])
    assert "intrinsic" in out.ineffective[0].reason


def test_balance_below_fee_takes_everything_and_fails():
    # intrinsic gas of a wallet spawn: 53000 + 128 * ceil(148 / 8) = 55432; max gas 100432
    bob = wallet_principal(pub(BOB))
    store = MemoryAccounts({bob: 60000})
    out = VM_.apply(store, LAYER, [sign_single(build.wallet_spawn(pub(BOB)), seed(BOB), GENESIS).raw()])
    result = out.results[0]
    assert result.status == TxStatus.FAILURE and result.fee == 60000
    store.commit(out)
    assert store.account(bob).balance == 0
    assert store.account(bob).next_nonce == 1
    assert not store.account(bob).spawned


def test_failed_spend_pays_fee_and_bumps_nonce():
    store, alice = spawned_alice(SMH // 2)
    balance = store.account(alice).balance
    tx = sign_single(build.spend(alice, DEST, SMH, nonce=1), seed(ALICE), GENESIS)  # 4-byte amount
    out = VM_.apply(store, LAYER + 1, [tx.raw()])
    assert out.results[0].status == TxStatus.FAILURE and "insufficient" in out.results[0].message
    store.commit(out)
    assert store.account(alice).balance == balance - SPEND_GAS_4B
    assert store.account(alice).next_nonce == 2
    assert store.account(DEST).balance == 0


def test_block_gas_limit_skips_what_does_not_fit():
    alice, bob = wallet_principal(pub(ALICE)), wallet_principal(pub(BOB))
    store = MemoryAccounts({alice: SMH, bob: SMH})
    txs = [sign_single(build.wallet_spawn(pub(k)), seed(k), GENESIS).raw() for k in (ALICE, BOB)]
    out = VM(GENESIS, EFFECTIVE_GENESIS, block_gas_limit=150_000).apply(store, LAYER, txs)
    assert len(out.results) == 1 and out.gas == SPAWN_GAS
    assert "gas limit" in out.ineffective[0].reason


def test_multisig_needs_exactly_required_parts():
    keys = [pub(ALICE), pub(BOB)]
    spawn = build.multisig_spawn(multisig_args(2, keys))
    ms = spawn.principal
    store = MemoryAccounts({ms: 10 * SMH})
    parts = [sign_part(spawn, seed(ALICE), GENESIS, 0), sign_part(spawn, seed(BOB), GENESIS, 1)]
    out = VM_.apply(store, LAYER, [combine(spawn, parts, 2).raw()])
    assert out.results[0].fee == MS_SPAWN_GAS
    store.commit(out)
    spend = build.spend(ms, DEST, SMH, nonce=1)
    one = combine(spend, [sign_part(spend, seed(ALICE), GENESIS, 0)], 1)
    both = combine(spend, [sign_part(spend, seed(k), GENESIS, i) for i, k in enumerate((ALICE, BOB))], 2)
    out = VM_.apply(store, LAYER + 1, [one.raw(), both.raw()])
    assert "signature" in out.ineffective[0].reason
    assert out.results[0].status == TxStatus.SUCCESS and out.results[0].fee == MS_SPEND_GAS
    store.commit(out)
    assert store.account(ms).balance == 9 * SMH - MS_SPAWN_GAS - MS_SPEND_GAS


def test_vesting_vault_drain_follows_the_vesting_curve():
    keys = [pub(ALICE), pub(BOB)]
    vspawn = build.multisig_spawn(multisig_args(1, keys), template=Template.VESTING)
    vesting = vspawn.principal
    store = MemoryAccounts({vesting: 10 * SMH})

    def signed(tx):
        return combine(tx, [sign_part(tx, seed(ALICE), GENESIS, 0)], 1).raw()

    args = vault_args(vesting, 1000 * SMH, 0, 200, 400)
    vault_tx = build.vault_spawn(vesting, args, nonce=1)
    out = VM_.apply(store, LAYER, [signed(vspawn), signed(vault_tx)])
    assert [r.status for r in out.results] == [TxStatus.SUCCESS, TxStatus.SUCCESS]
    store.commit(out)
    vault_address = compute_principal(Template.VAULT, args)
    store.accounts[vault_address] = store.account(vault_address).replace(balance=1000 * SMH)
    # at layer 300 half is vested: 500 SMH spendable
    too_much = build.drain(vesting, vault_address, DEST, 501 * SMH, nonce=2)
    ok = build.drain(vesting, vault_address, DEST, 500 * SMH, nonce=3)
    out = VM_.apply(store, 300, [signed(too_much), signed(ok)])
    assert out.results[0].status == TxStatus.FAILURE and out.results[1].status == TxStatus.SUCCESS
    store.commit(out)
    assert store.account(DEST).balance == 500 * SMH
    assert store.account(vault_address).vault().drained == 500 * SMH
    # nothing more until more vests; at the end everything is spendable
    assert VM_.apply(store, 300, [signed(build.drain(vesting, vault_address, DEST, 1, nonce=4))]).results[0].status == (
        TxStatus.FAILURE
    )
    out = VM_.apply(store, 400, [signed(build.drain(vesting, vault_address, DEST, 500 * SMH, nonce=4))])
    assert out.results[0].status == TxStatus.SUCCESS
    # a vault never signs for itself
    assert VM_.apply(store, 400, [sign_single(build.spend(vault_address, DEST, 1, 0), seed(ALICE), GENESIS).raw()]).ineffective


def test_rewards_split_by_weight_and_dust_burnt():
    a, b = wallet_principal(pub(ALICE)), wallet_principal(pub(BOB))
    layer = EFFECTIVE_GENESIS + 1
    shares = [RewardShare(a, b"\x01" * 32, Fraction(1)), RewardShare(b, b"\x02" * 32, Fraction(2))]
    out = VM_.apply(MemoryAccounts(), layer, [], shares)
    subsidy = layer_subsidy(layer, EFFECTIVE_GENESIS)
    assert [r.total for r in out.rewards] == [subsidy // 3, subsidy * 2 // 3]
    assert sum(r.total for r in out.rewards) <= subsidy
    assert {acc.address: acc.balance for acc in out.accounts} == {a: subsidy // 3, b: subsidy * 2 // 3}
    assert VM_.apply(MemoryAccounts(), EFFECTIVE_GENESIS, [], shares).rewards[0].total == 0


def _subsidy_reference(n: int) -> int:
    """S(n) at 60 digits, an independent precision from the VM's 34."""
    with localcontext() as ctx:
        ctx.prec = 60
        lam = -(Decimal(1) - Decimal(450) / Decimal(2250)).ln() / Decimal(10 * 105120 + 1)
        return int((Decimal(2_250_000_000 * 10**9) * (1 - (-lam * (n + 1)).exp())).to_integral_value(rounding="ROUND_FLOOR"))


@pytest.mark.parametrize("n", [0, 1, 2, 1000, 105120, 10 * 105120])
def test_subsidy_curve(n):
    assert accumulated_subsidy(n) == _subsidy_reference(n)


def test_first_layer_subsidy_is_about_477_smh():
    assert 477 * SMH < layer_subsidy(EFFECTIVE_GENESIS + 1, EFFECTIVE_GENESIS) < 478 * SMH


def test_state_hash_is_over_sorted_account_encodings():
    store, alice = spawned_alice()
    out = VM_.apply(store, LAYER + 1, [sign_single(build.spend(alice, DEST, 5, nonce=1), seed(ALICE), GENESIS).raw()])
    ordered = sorted(out.accounts, key=lambda acc: acc.address)
    assert out.state_hash == hash32(b"".join(acc.encode() for acc in ordered))
    assert state_hash(list(reversed(ordered))) == out.state_hash
