"""parse_tx: a transaction read against account state (spec/wallet.md §3.2–3.6).

Expected gas is the spec's fixed-price MaxGas (§3.5), worked out by hand: BaseGas + 128 × ceil(size / 8) + FixedGas.
"""

import pytest
from nacl.signing import SigningKey

from core.crypto.hashing import hash32
from core.errors import DecodeError, InvalidInput, TxError
from core.tx import build
from core.tx.gas import AccountKind
from core.tx.signing import combine, sign_part, sign_single
from core.tx.templates import Template, compute_principal, multisig_args, vault_args, wallet_principal
from core.txs.parsed import NotSpawned, VaultPrincipal, parse_tx
from core.vm.account import Account, spawned_state

GENESIS = b"\x05" * 20
OTHER_GENESIS = b"\x06" * 20
KEYS = [SigningKey(bytes([i]) * 32) for i in (1, 2, 3)]
PUBS = [bytes(k.verify_key) for k in KEYS]
ALICE = wallet_principal(PUBS[0])
DEST = wallet_principal(PUBS[1])
AMOUNT = 10**8  # a 4-byte compact amount

# MaxGas at gas price 1, nonce < 64 (one-byte compacts):
WALLET_SPAWN_GAS = 100432  # 23000 base + 30000 spawn + 128·ceil(148/8) + 5000·ceil(68/8) store
MULTISIG_2_OF_2_SPAWN_GAS = 124968  # 26000 + 30000 + 128·ceil(248/8) + 5000·ceil(100/8)
WALLET_SPEND_GAS = 36090  # 23000 + 128·ceil(120/8) + (2500 + 182·ceil(68/8)) + 7032 spend
MULTISIG_2_OF_3_SPEND_GAS = 41698  # 26000 + 128·ceil(186/8) + (2500 + 182·ceil(132/8)) + 7032 spend


class Accounts:
    """An AccountReader over a dict; an address it does not hold is an empty, unspawned account."""

    def __init__(self, *accounts: Account) -> None:
        self.accounts = {a.address: a for a in accounts}

    def account(self, address: bytes) -> Account:
        return self.accounts.get(address) or Account.empty(address)


def spawned(address: bytes, template: Template, args, balance: int = 10**9, next_nonce: int = 1) -> Account:
    return Account(address, balance, next_nonce, 1, template.address, spawned_state(template, args))


def wallet_account() -> Account:
    return spawned(ALICE, Template.WALLET, build.wallet_spawn(PUBS[0]).args)


def multisig_2_of_3() -> Account:
    spawn = build.multisig_spawn(multisig_args(2, PUBS))
    return spawned(spawn.principal, Template.MULTISIG, spawn.args)


def multisig_spend(parts_by: list[int], genesis: bytes = GENESIS) -> bytes:
    tx = build.spend(multisig_2_of_3().address, DEST, AMOUNT, nonce=1)
    parts = [sign_part(tx, bytes(KEYS[i]), genesis, i) for i in parts_by]
    return combine(tx, parts, len(parts)).raw()


def wallet_spend(key: SigningKey = KEYS[0], genesis: bytes = GENESIS, principal: bytes = ALICE) -> bytes:
    return sign_single(build.spend(principal, DEST, AMOUNT, nonce=1), bytes(key), genesis).raw()


# -- self-spawns: everything comes from the transaction ---------------------------------------------------------


def test_wallet_self_spawn_names_its_own_template_kind_and_key():
    raw = sign_single(build.wallet_spawn(PUBS[0]), bytes(KEYS[0]), GENESIS).raw()
    parsed = parse_tx(raw, Accounts())  # the principal is not spawned: a self-spawn needs no account
    assert (parsed.raw, parsed.id) == (raw, hash32(raw))
    assert parsed.id == parsed.tx.id
    assert parsed.principal == Account.empty(ALICE)
    assert parsed.template == Template.WALLET
    assert parsed.kind == AccountKind.wallet()
    assert parsed.keys == (PUBS[0],)
    assert parsed.max_gas == WALLET_SPAWN_GAS
    assert parsed.signature_ok(GENESIS)
    assert not parsed.signature_ok(OTHER_GENESIS)


def test_multisig_self_spawn_verifies_with_the_keys_it_spawns_with():
    spawn = build.multisig_spawn(multisig_args(2, PUBS[:2]))
    both = [sign_part(spawn, bytes(k), GENESIS, i) for i, k in enumerate(KEYS[:2])]
    parsed = parse_tx(combine(spawn, both, 2).raw(), Accounts())
    assert parsed.template == Template.MULTISIG
    assert parsed.kind == AccountKind.multisig(2, 2)
    assert parsed.keys == tuple(PUBS[:2])
    assert parsed.max_gas == MULTISIG_2_OF_2_SPAWN_GAS
    assert parsed.signature_ok(GENESIS)
    swapped = [sign_part(spawn, bytes(k), GENESIS, i) for i, k in enumerate(reversed(KEYS[:2]))]
    assert not parse_tx(combine(spawn, swapped, 2).raw(), Accounts()).signature_ok(GENESIS)


def test_multisig_self_spawn_with_fewer_parts_than_required_is_no_transaction():
    spawn = build.multisig_spawn(multisig_args(2, PUBS[:2]))
    one = combine(spawn, [sign_part(spawn, bytes(KEYS[0]), GENESIS, 0)], 1)
    with pytest.raises(DecodeError):  # a self-spawn names Required, so its signature block is short
        parse_tx(one.raw(), Accounts())


# -- the principal's account supplies the rest -------------------------------------------------------------------


def test_spend_of_a_spawned_wallet_takes_template_kind_and_key_from_the_account():
    parsed = parse_tx(wallet_spend(), Accounts(wallet_account()))
    assert parsed.tx.template is None  # a spend does not carry it
    assert parsed.template == Template.WALLET
    assert parsed.principal == wallet_account()
    assert parsed.kind == AccountKind.wallet()
    assert parsed.keys == (PUBS[0],)
    assert parsed.max_gas == WALLET_SPEND_GAS
    assert parsed.signature_ok(GENESIS)


def test_a_wallet_signature_must_be_the_principals_and_for_this_network():
    accounts = Accounts(wallet_account())
    assert not parse_tx(wallet_spend(key=KEYS[1]), accounts).signature_ok(GENESIS)
    assert not parse_tx(wallet_spend(genesis=OTHER_GENESIS), accounts).signature_ok(GENESIS)


def test_a_wallet_principal_signs_with_one_signature_not_a_part():
    tx = build.spend(ALICE, DEST, AMOUNT, nonce=1)
    one_part = combine(tx, [sign_part(tx, bytes(KEYS[0]), GENESIS, 0)], 1)  # a valid signature, as a part
    assert not parse_tx(one_part.raw(), Accounts(wallet_account())).signature_ok(GENESIS)


def test_spend_of_a_multisig_needs_exactly_required_parts():
    accounts = Accounts(multisig_2_of_3())
    parsed = parse_tx(multisig_spend([0, 2]), accounts)
    assert parsed.template == Template.MULTISIG
    assert parsed.kind == AccountKind.multisig(2, 3)
    assert parsed.keys == tuple(PUBS)
    assert parsed.max_gas == MULTISIG_2_OF_3_SPEND_GAS
    assert parsed.signature_ok(GENESIS)
    assert not parse_tx(multisig_spend([0]), accounts).signature_ok(GENESIS)  # too few
    assert not parse_tx(multisig_spend([0, 1, 2]), accounts).signature_ok(GENESIS)  # too many, each valid
    assert not parse_tx(multisig_spend([0, 1], OTHER_GENESIS), accounts).signature_ok(GENESIS)


def test_a_1_of_1_multisig_signs_with_a_part_not_a_bare_signature():
    spawn = build.multisig_spawn(multisig_args(1, PUBS[:1]))
    account = spawned(spawn.principal, Template.MULTISIG, spawn.args)
    tx = build.spend(account.address, DEST, AMOUNT, nonce=1)
    part = combine(tx, [sign_part(tx, bytes(KEYS[0]), GENESIS, 0)], 1)
    assert parse_tx(part.raw(), Accounts(account)).signature_ok(GENESIS)
    bare = sign_single(tx, bytes(KEYS[0]), GENESIS)
    assert not parse_tx(bare.raw(), Accounts(account)).signature_ok(GENESIS)


def test_spawn_paid_by_another_account_shows_the_spawned_template_and_the_payers_kind():
    spawn = build.multisig_spawn(multisig_args(2, PUBS), nonce=1, principal=ALICE)
    parsed = parse_tx(sign_single(spawn, bytes(KEYS[0]), GENESIS).raw(), Accounts(wallet_account()))
    assert parsed.template == Template.MULTISIG
    assert parsed.kind == AccountKind.wallet()
    assert parsed.keys == (PUBS[0],)
    assert parsed.signature_ok(GENESIS)


def test_unsigned_bytes_parse_and_are_priced_as_once_signed():
    tx = build.spend(ALICE, DEST, AMOUNT, nonce=1)
    parsed = parse_tx(tx.unsigned_bytes(), Accounts(wallet_account()), signed=False)
    assert parsed.tx.signature is None and parsed.tx.parts is None
    assert parsed.max_gas == WALLET_SPEND_GAS
    assert not parsed.signature_ok(GENESIS)
    with pytest.raises(DecodeError):  # signed (the default) wants a signature block
        parse_tx(tx.unsigned_bytes(), Accounts(wallet_account()))


# -- principals the node never executes for: strict refuses, lenient describes ----------------------------------


def test_unspawned_principal_strict_is_not_spawned():
    with pytest.raises(NotSpawned, match="^account is not spawned$") as raised:
        parse_tx(wallet_spend(), Accounts())
    assert isinstance(raised.value, InvalidInput)  # both APIs catch InvalidInput around it


def test_unspawned_principal_lenient_guesses_a_wallet_from_one_signature():
    parsed = parse_tx(wallet_spend(), Accounts(), strict=False)
    assert parsed.principal == Account.empty(ALICE)
    assert parsed.template is None
    assert parsed.kind == AccountKind.wallet()
    assert parsed.keys == ()
    assert parsed.max_gas == WALLET_SPEND_GAS
    assert not parsed.signature_ok(GENESIS)  # no keys to verify with


def test_unspawned_principal_lenient_with_parts_has_no_kind():
    parsed = parse_tx(multisig_spend([0, 1]), Accounts(), strict=False)
    assert (parsed.template, parsed.kind, parsed.max_gas) == (None, None, 0)
    assert not parsed.signature_ok(GENESIS)


def test_vault_principal_strict_is_refused_lenient_has_no_kind():
    args = vault_args(ALICE, 10**9, 0, 10, 20)
    vault = spawned(compute_principal(Template.VAULT, args), Template.VAULT, args)
    raw = sign_single(build.spend(vault.address, ALICE, 1, nonce=0), bytes(KEYS[0]), GENESIS).raw()
    with pytest.raises(VaultPrincipal, match="vault") as raised:
        parse_tx(raw, Accounts(vault))
    assert isinstance(raised.value, TxError)
    parsed = parse_tx(raw, Accounts(vault), strict=False)
    assert (parsed.template, parsed.kind, parsed.keys, parsed.max_gas) == (Template.VAULT, None, (), 0)
    assert not parsed.signature_ok(GENESIS)


def test_bytes_that_are_no_transaction():
    with pytest.raises(DecodeError):
        parse_tx(b"\x00\x01", Accounts())
