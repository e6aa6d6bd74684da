"""MaxGas and fees recomputed from the formulas of spec/wallet.md §3.5, written out here."""

import pytest

from core.errors import TxError
from core.tx import build
from core.tx.gas import AccountKind, fee, max_gas
from core.tx.templates import Template, compute_principal, multisig_args, vault_args, wallet_principal
from core.tx.transaction import SignaturePart

# §3.5 constants
TX, SPAWN, STORE, UPDATE, LOAD, ACCOUNT_ACCESS, EDVERIFY, TXDATA = 20000, 30000, 5000, 725, 182, 2500, 3000, 128


def size_gas(g: int, size: int) -> int:
    return g * -(-size // 8)


def compact_len(v: int) -> int:
    """Bytes of a compact integer (§3.1)."""
    if v < 1 << 6:
        return 1
    if v < 1 << 14:
        return 2
    if v < 1 << 30:
        return 4
    return 1 + (v.bit_length() + 7) // 8


WALLET_STATE = 32 + 36


def ms_state(n: int) -> int:
    return 32 * n + 36


WALLET_LOAD = ACCOUNT_ACCESS + size_gas(LOAD, WALLET_STATE)
SPEND_EXEC = ACCOUNT_ACCESS + size_gas(LOAD, 8) + size_gas(UPDATE, 36) + size_gas(UPDATE, 8)
DRAIN_EXEC = ACCOUNT_ACCESS + size_gas(LOAD, 92) + size_gas(UPDATE, 36) + size_gas(UPDATE, 8 + 8)


def ms_load(n: int) -> int:
    return ACCOUNT_ACCESS + size_gas(LOAD, ms_state(n))


def test_spec_constants():
    # the worked numbers of §3.5 for the helpers above
    assert WALLET_LOAD == 4138
    assert SPEND_EXEC == 7032
    assert DRAIN_EXEC == 9759
    assert size_gas(STORE, WALLET_STATE) == 45000


def _keys(n: int) -> list[bytes]:
    return [bytes([i + 1]) * 32 for i in range(n)]


def _parts(k: int) -> tuple[SignaturePart, ...]:
    return tuple(SignaturePart(i, bytes([i]) * 64) for i in range(k))


ADDR = bytes(4) + bytes(range(20))
PUB = bytes(range(32))


# ---------------------------------------------------------------------------------------------
# wallet principal


@pytest.mark.parametrize("amount", [5, 1000, 10**6, 10**9, 10**12, 2**64 - 1])
@pytest.mark.parametrize(("nonce", "gas_price"), [(0, 1), (100, 7), (2**40, 10**6)])
def test_wallet_spend(amount, nonce, gas_price):
    tx = build.spend(wallet_principal(PUB), ADDR, amount, nonce, gas_price).with_signature(bytes(64))
    size = 1 + 24 + 1 + compact_len(nonce) + compact_len(gas_price) + 24 + compact_len(amount) + 64
    assert len(tx.raw()) == size
    expected = TX + EDVERIFY + size_gas(TXDATA, size) + WALLET_LOAD + SPEND_EXEC
    assert max_gas(tx) == expected
    assert max_gas(tx, AccountKind.wallet()) == expected
    assert fee(tx) == expected * gas_price
    # the unsigned estimate counts the signature to come
    unsigned = build.spend(wallet_principal(PUB), ADDR, amount, nonce, gas_price)
    assert max_gas(unsigned, AccountKind.wallet()) == expected


def test_wallet_spend_amount_sizes_change_gas():
    # 1, 2 and 4-byte amounts at nonce 0/price 1: 117, 118, 120 bytes, all 15 words
    gases = []
    for amount in (1, 100, 10**6, 2**62):
        tx = build.spend(wallet_principal(PUB), ADDR, amount, 0).with_signature(bytes(64))
        gases.append(max_gas(tx))
    assert gases[:3] == [23000 + 128 * 15 + 4138 + 7032] * 3
    assert gases[3] == 23000 + 128 * 16 + 4138 + 7032  # 9-byte amount: 125 bytes


def test_wallet_self_spawn():
    for nonce, gas_price in [(0, 1), (5, 2**33)]:
        tx = build.wallet_spawn(PUB, nonce, gas_price).with_signature(bytes(64))
        size = 1 + 24 + 1 + 24 + compact_len(nonce) + compact_len(gas_price) + 32 + 64
        assert len(tx.raw()) == size
        expected = TX + SPAWN + EDVERIFY + size_gas(TXDATA, size) + size_gas(STORE, WALLET_STATE)
        assert max_gas(tx) == expected
        assert fee(tx) == expected * gas_price
    assert max_gas(build.wallet_spawn(PUB).with_signature(bytes(64))) == 100432  # §3.5 worked number


# ---------------------------------------------------------------------------------------------
# multisig / vesting principal


@pytest.mark.parametrize(("k", "n"), [(1, 1), (1, 3), (2, 2), (2, 3), (3, 5), (7, 10), (10, 10)])
@pytest.mark.parametrize("template", [Template.MULTISIG, Template.VESTING])
def test_multisig_spend(k, n, template):
    principal = compute_principal(template, multisig_args(k, _keys(n)))
    tx = build.spend(principal, ADDR, 10**9, 3, 11).with_parts(_parts(k))
    size = 1 + 24 + 1 + 1 + 1 + 24 + 4 + 65 * k
    assert len(tx.raw()) == size
    expected = TX + EDVERIFY * k + size_gas(TXDATA, size) + ms_load(n) + SPEND_EXEC
    kind = AccountKind.multisig(k, n, template)
    assert max_gas(tx, kind) == expected
    assert fee(tx, kind) == expected * 11
    assert max_gas(build.spend(principal, ADDR, 10**9, 3, 11), kind) == expected


@pytest.mark.parametrize(("k", "n"), [(1, 1), (2, 3), (4, 4)])
def test_drain_by_vesting(k, n):
    vesting = compute_principal(Template.VESTING, multisig_args(k, _keys(n)))
    amount, nonce, price = 10**12, 70, 3
    tx = build.drain(vesting, ADDR, wallet_principal(PUB), amount, nonce, price).with_parts(_parts(k))
    size = 1 + 24 + 1 + compact_len(nonce) + compact_len(price) + 24 + 24 + compact_len(amount) + 65 * k
    assert len(tx.raw()) == size
    expected = TX + EDVERIFY * k + size_gas(TXDATA, size) + ms_load(n) + 9759
    kind = AccountKind.multisig(k, n, Template.VESTING)
    assert max_gas(tx, kind) == expected
    assert fee(tx, kind) == expected * price


def _vault(owner: bytes, total=10**15, initial=10**14, start=1000, end=2**20):
    return vault_args(owner, total, initial, start, end), 24 + sum(
        compact_len(v) for v in (total, initial, start, end)
    )


@pytest.mark.parametrize(("k", "n"), [(1, 1), (2, 3), (5, 10)])
def test_vault_spawn_by_vesting(k, n):
    vesting = compute_principal(Template.VESTING, multisig_args(k, _keys(n)))
    args, args_size = _vault(vesting)
    tx = build.vault_spawn(vesting, args, nonce=1, gas_price=2).with_parts(_parts(k))
    size = 1 + 24 + 1 + 24 + 1 + 1 + args_size + 65 * k
    assert len(tx.raw()) == size
    # vault ExecGas(spawn) = 0: only the principal's load is fixed gas
    expected = TX + SPAWN + EDVERIFY * k + size_gas(TXDATA, size) + ms_load(n) + 0
    kind = AccountKind.multisig(k, n, Template.VESTING)
    assert max_gas(tx, kind) == expected
    assert fee(tx, kind) == expected * 2


def test_vault_spawn_by_wallet():
    owner = wallet_principal(PUB)
    args, args_size = _vault(owner, total=2**64 - 1, initial=0, start=0, end=0)
    tx = build.vault_spawn(owner, args, nonce=0, gas_price=9).with_signature(bytes(64))
    size = 1 + 24 + 1 + 24 + 1 + 1 + args_size + 64
    assert len(tx.raw()) == size
    expected = TX + SPAWN + EDVERIFY + size_gas(TXDATA, size) + WALLET_LOAD
    assert max_gas(tx) == expected
    assert fee(tx) == expected * 9


@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_multisig_spawned_by_wallet(n):
    args = multisig_args(1, _keys(n))
    tx = build.multisig_spawn(args, nonce=4, gas_price=5, principal=wallet_principal(PUB)).with_signature(bytes(64))
    assert not tx.is_self_spawn
    size = 1 + 24 + 1 + 24 + 1 + 1 + (1 + 1 + 32 * n) + 64
    assert len(tx.raw()) == size
    expected = TX + SPAWN + EDVERIFY + size_gas(TXDATA, size) + WALLET_LOAD + size_gas(STORE, ms_state(n))
    assert max_gas(tx) == expected
    assert fee(tx) == expected * 5


def test_vesting_spawned_by_multisig():
    payer = compute_principal(Template.MULTISIG, multisig_args(2, _keys(3)))
    args = multisig_args(3, _keys(4))
    tx = build.multisig_spawn(args, template=Template.VESTING, principal=payer).with_parts(_parts(2))
    size = 1 + 24 + 1 + 24 + 1 + 1 + (1 + 1 + 32 * 4) + 2 * 65
    assert len(tx.raw()) == size
    expected = TX + SPAWN + EDVERIFY * 2 + size_gas(TXDATA, size) + ms_load(3) + size_gas(STORE, ms_state(4))
    assert max_gas(tx, AccountKind.multisig(2, 3)) == expected


@pytest.mark.parametrize(("k", "n"), [(1, 1), (2, 2), (3, 5), (10, 10)])
@pytest.mark.parametrize("template", [Template.MULTISIG, Template.VESTING])
def test_multisig_self_spawn(k, n, template):
    args = multisig_args(k, _keys(n))
    tx = build.multisig_spawn(args, template=template).with_parts(_parts(k))
    size = 1 + 24 + 1 + 24 + 1 + 1 + (1 + 1 + 32 * n) + 65 * k
    assert len(tx.raw()) == size
    expected = TX + SPAWN + EDVERIFY * k + size_gas(TXDATA, size) + size_gas(STORE, ms_state(n))
    assert max_gas(tx) == expected  # self-spawn: the kind is read off the tx
    assert max_gas(build.multisig_spawn(args, template=template)) == expected
    assert fee(tx) == expected


# ---------------------------------------------------------------------------------------------
# errors


def test_multisig_principal_needs_account_kind():
    principal = compute_principal(Template.MULTISIG, multisig_args(2, _keys(2)))
    tx = build.spend(principal, ADDR, 1, 0)
    with pytest.raises(TxError, match="number of keys"):
        max_gas(tx.with_parts(_parts(2)))
    with pytest.raises(TxError, match="number of keys"):
        max_gas(tx)
    with pytest.raises(TxError, match="number of keys"):
        fee(tx.with_parts(_parts(2)))


def test_vault_base_gas():
    from core.tx.transaction import Method

    for method in Method:
        with pytest.raises(TxError, match="vault can never be a transaction's principal"):
            AccountKind(Template.VAULT).base_gas(method)


def test_vault_as_principal_kind():
    tx = build.spend(ADDR, ADDR, 1, 0).with_signature(bytes(64))
    with pytest.raises(TxError, match="vault"):
        max_gas(tx, AccountKind(Template.VAULT))
