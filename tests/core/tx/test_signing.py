"""Transaction signing, multisig aggregation and builder validation (spec/wallet.md §2.2, §3.2–3.3, §4.5)."""

import dataclasses

import pytest
from nacl.signing import SigningKey, VerifyKey

from core.errors import TxError
from core.tx import build
from core.tx.signing import combine, sign_part, sign_single, verify
from core.tx.templates import Template, compute_principal, multisig_args, vault_args, wallet_principal
from core.tx.transaction import SignaturePart, decode_tx

MAINNET = bytes.fromhex("9eebff023abb17ccb775c602daade8ed708f0a50")
TESTNET = bytes.fromhex("e956eff99be943fb70bd385dd509a3f84e9a75dd")
SEEDS = [bytes([i + 1]) * 32 for i in range(5)]
PUBS = [bytes(SigningKey(s).verify_key) for s in SEEDS]
DEST = bytes(4) + b"\x42" * 20


def _ms_spend(required=2, n=3):
    principal = compute_principal(Template.MULTISIG, multisig_args(required, PUBS[:n]))
    return build.spend(principal, DEST, 1000, nonce=2, gas_price=3)


def _parts(tx, refs, genesis=MAINNET):
    return [sign_part(tx, SEEDS[r], genesis, r) for r in refs]


# ---------------------------------------------------------------------------------------------
# combine


def test_combine_exactly_required():
    tx = _ms_spend(2, 3)
    for refs in ([0], [2], [0, 1, 2]):
        with pytest.raises(TxError, match=f"exactly 2 signature parts, got {len(refs)}"):
            combine(tx, _parts(tx, refs), 2, PUBS[:3], MAINNET)
    with pytest.raises(TxError, match="exactly 2 signature parts, got 0"):
        combine(tx, [], 2)
    signed = combine(tx, _parts(tx, [0, 2]), 2, PUBS[:3], MAINNET)
    assert [p.ref for p in signed.parts] == [0, 2]
    assert verify(signed, MAINNET, PUBS[:3])


def test_combine_sorts_by_ref():
    tx = _ms_spend(3, 5)
    parts = _parts(tx, [4, 1, 3])
    signed = combine(tx, parts, 3, PUBS, MAINNET)
    assert [p.ref for p in signed.parts] == [1, 3, 4]
    assert signed.raw() == tx.unsigned_bytes() + b"".join(bytes([r << 2]) + p.signature
                                                           for r, p in zip([1, 3, 4], [parts[1], parts[2], parts[0]]))
    assert decode_tx(signed.raw()) == signed


def test_combine_duplicate_identical_part_is_fine():
    tx = _ms_spend(2, 3)
    p0, p1 = _parts(tx, [0, 1])
    signed = combine(tx, [p1, p0, p1, p0], 2, PUBS[:3], MAINNET)
    assert signed.parts == (p0, p1)


def test_combine_conflicting_duplicates():
    tx = _ms_spend(2, 3)
    p0, p1 = _parts(tx, [0, 1])
    forged = SignaturePart(1, bytes(64))
    with pytest.raises(TxError, match="two different signatures for ref 1"):
        combine(tx, [p0, p1, forged], 2)


def test_combine_part_for_another_genesis():
    tx = _ms_spend(2, 3)
    p0 = sign_part(tx, SEEDS[0], MAINNET, 0)
    p1 = sign_part(tx, SEEDS[1], TESTNET, 1)
    with pytest.raises(TxError, match="signature of ref 1 does not verify"):
        combine(tx, [p0, p1], 2, PUBS[:3], MAINNET)
    # without keys and genesis nothing is checked: the aggregate is built but does not verify
    unchecked = combine(tx, [p0, p1], 2)
    assert not verify(unchecked, MAINNET, PUBS[:3])


def test_combine_part_signed_by_wrong_key():
    tx = _ms_spend(2, 3)
    wrong = SignaturePart(1, sign_part(tx, SEEDS[2], MAINNET, 2).signature)
    with pytest.raises(TxError, match="ref 1 does not verify"):
        combine(tx, [sign_part(tx, SEEDS[0], MAINNET, 0), wrong], 2, PUBS[:3], MAINNET)


def test_combine_ref_out_of_range():
    tx = _ms_spend(2, 3)
    parts = [sign_part(tx, SEEDS[0], MAINNET, 0), sign_part(tx, SEEDS[3], MAINNET, 3)]
    with pytest.raises(TxError, match="signature ref 3 is out of range for 3 keys"):
        combine(tx, parts, 2, PUBS[:3], MAINNET)
    with pytest.raises(TxError, match="signature ref 3 is out of range for 3 keys"):
        combine(tx, parts, 2, PUBS[:3])


@pytest.mark.parametrize("ref", [-1, 64, 255])
def test_sign_part_ref_range(ref):
    with pytest.raises(TxError, match="ref must be 0..63"):
        sign_part(_ms_spend(), SEEDS[0], MAINNET, ref)


def test_part_signs_genesis_and_unsigned():
    tx = _ms_spend()
    part = sign_part(tx, SEEDS[1], MAINNET, 1)
    assert part.ref == 1
    VerifyKey(PUBS[1]).verify(MAINNET + tx.unsigned_bytes(), part.signature)


# ---------------------------------------------------------------------------------------------
# single signatures


def test_sign_single_and_verify():
    tx = build.spend(wallet_principal(PUBS[0]), DEST, 5, nonce=1)
    signed = sign_single(tx, SEEDS[0], MAINNET)
    VerifyKey(PUBS[0]).verify(MAINNET + tx.unsigned_bytes(), signed.signature)
    assert signed.raw() == tx.unsigned_bytes() + signed.signature
    assert verify(signed, MAINNET, [PUBS[0]])
    assert not verify(signed, TESTNET, [PUBS[0]])
    assert not verify(signed, MAINNET, [PUBS[1]])
    assert not verify(tx, MAINNET, [PUBS[0]])  # unsigned


def test_sign_single_64_byte_secret_key():
    tx = build.wallet_spawn(PUBS[2])
    a = sign_single(tx, SEEDS[2], TESTNET)
    b = sign_single(tx, SEEDS[2] + PUBS[2], TESTNET)
    assert a.signature == b.signature


# byte positions in the unsigned spend: principal, nonce, gas price, destination, amount
@pytest.mark.parametrize("pos", [1, 10, 26, 27, 30, 51, -1])
def test_tampered_unsigned_byte_fails(pos):
    tx = build.spend(wallet_principal(PUBS[0]), DEST, 2**40, nonce=1)
    signed = sign_single(tx, SEEDS[0], MAINNET)
    raw = bytearray(signed.raw())
    pos %= len(tx.unsigned_bytes())
    raw[pos] ^= 0x08  # keeps a compact's mode bits and a big form's non-zero top byte
    tampered = decode_tx(bytes(raw))
    assert tampered.signature == signed.signature
    assert tampered.unsigned_bytes() != tx.unsigned_bytes()
    assert not verify(tampered, MAINNET, [PUBS[0]])


def test_tampered_fields_fail():
    tx = build.spend(wallet_principal(PUBS[0]), DEST, 5, nonce=1)
    signed = sign_single(tx, SEEDS[0], MAINNET)
    for change in ({"nonce": 2}, {"gas_price": 2}, {"principal": wallet_principal(PUBS[1])}):
        assert not verify(dataclasses.replace(signed, **change), MAINNET, [PUBS[0]])


def test_verify_multisig_wrong_genesis():
    tx = _ms_spend(2, 3)
    signed = combine(tx, _parts(tx, [1, 2]), 2, PUBS[:3], MAINNET)
    assert verify(signed, MAINNET, PUBS[:3])
    assert not verify(signed, TESTNET, PUBS[:3])
    assert not verify(signed, MAINNET, PUBS[:2])  # ref 2 has no key


# ---------------------------------------------------------------------------------------------
# builders


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: build.wallet_spawn(PUBS[0], **kw),
        lambda **kw: build.multisig_spawn(multisig_args(1, PUBS[:2]), **kw),
        lambda **kw: build.vault_spawn(DEST, vault_args(DEST, 10, 5, 1, 2), **kw),
        lambda **kw: build.spend(DEST, DEST, 1, **kw),
        lambda **kw: build.drain(DEST, DEST, DEST, 1, **kw),
    ],
    ids=["wallet_spawn", "multisig_spawn", "vault_spawn", "spend", "drain"],
)
def test_builders_check_nonce_and_gas_price(make):
    with pytest.raises(TxError, match="gas price must be at least 1"):
        make(nonce=0, gas_price=0)
    with pytest.raises(TxError, match="gas price"):
        make(nonce=0, gas_price=-1)
    with pytest.raises(TxError, match="gas price"):
        make(nonce=0, gas_price=2**64)
    with pytest.raises(TxError, match="nonce must be a 64-bit unsigned integer"):
        make(nonce=-1, gas_price=1)
    with pytest.raises(TxError, match="nonce"):
        make(nonce=2**64, gas_price=1)
    tx = make(nonce=2**64 - 1, gas_price=2**64 - 1)
    assert (tx.nonce, tx.gas_price) == (2**64 - 1, 2**64 - 1)


def test_builders_check_amount():
    for amount in (2**64, 2**70, -1):
        with pytest.raises(TxError, match="amount must fit in 64 bits"):
            build.spend(DEST, DEST, amount, 0)
        with pytest.raises(TxError, match="amount must fit in 64 bits"):
            build.drain(DEST, DEST, DEST, amount, 0)
    assert build.spend(DEST, DEST, 2**64 - 1, 0).args.amount == 2**64 - 1


def test_vault_spawn_checks_total():
    from core.tx.templates import VaultSpawnArgs

    with pytest.raises(TxError, match="amount must fit in 64 bits"):
        build.vault_spawn(DEST, VaultSpawnArgs(DEST, 2**64, 0, 0, 0), nonce=0)


@pytest.mark.parametrize(
    ("required", "n", "message"),
    [
        (0, 3, "required signatures must be between 1 and 3, got 0"),
        (4, 3, "required signatures must be between 1 and 3, got 4"),
        (1, 11, "1 to 10 keys, got 11"),
        (1, 0, "1 to 10 keys, got 0"),
    ],
)
def test_multisig_args_rejected(required, n, message):
    keys = [bytes([i]) * 32 for i in range(n)]
    with pytest.raises(TxError, match=message):
        multisig_args(required, keys)


def test_multisig_args_key_size():
    with pytest.raises(TxError, match="public keys are 32 bytes, got 31"):
        multisig_args(1, [bytes(31)])


def test_multisig_args_limits_accepted():
    keys = [bytes([i]) * 32 for i in range(10)]
    assert multisig_args(10, keys).required == 10
    assert multisig_args(1, keys[:1]).public_keys == (keys[0],)


def test_multisig_spawn_needs_multisig_template():
    for template in (Template.WALLET, Template.VAULT):
        with pytest.raises(TxError, match="multisig or vesting template"):
            build.multisig_spawn(multisig_args(1, PUBS[:1]), template=template)


def test_vault_args_rejected():
    with pytest.raises(TxError, match="initial unlock amount exceeds the vault's total"):
        vault_args(DEST, 100, 101, 0, 10)
    with pytest.raises(TxError, match="vesting end layer is before vesting start"):
        vault_args(DEST, 100, 50, 10, 9)
    args = vault_args(DEST, 100, 100, 10, 10)  # boundaries are allowed
    assert (args.initial_unlock_amount, args.vesting_end) == (100, 10)


def test_builders_check_address_length():
    with pytest.raises(TxError):
        build.spend(bytes(20), DEST, 1, 0)
    with pytest.raises(TxError, match="destination"):
        build.spend(DEST, DEST[:23], 1, 0)
    with pytest.raises(TxError, match="vault"):
        build.drain(DEST, DEST + b"\x00", DEST, 1, 0)
    with pytest.raises(TxError, match="owner"):
        build.vault_spawn(DEST, vault_args(DEST[:20], 10, 0, 0, 1), 0)
    with pytest.raises(TxError, match="principal"):
        build.multisig_spawn(multisig_args(1, [bytes(32)]), principal=bytes(10))
