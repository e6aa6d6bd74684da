"""Strict transaction decoding (spec/wallet.md §3.1–3.2): every failure is a DecodeError saying why."""

import dataclasses

import pytest
from blake3 import blake3
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import DecodeError
from core.tx import build
from core.tx.templates import Template, compute_principal, multisig_args, vault_args, wallet_principal
from core.tx.transaction import Method, SignaturePart, decode_tx

K2_PUB = bytes.fromhex("de30fc9b812248583da6259433626fcdd2cb5ce589b00047b81e127950b9bca6")
K2B_PUB = bytes.fromhex("3e53ca89fae03e6e9477f0fdc3abf994d1885007a73d136f4122a260a70348cd")
A1_PUB = bytes.fromhex("f628d5733ba18640769ea46a24000be53a42fbfef0cd2c826044bbc640d119e2")
DEST = bytes(4) + bytes(range(1, 21))
SIG = bytes(range(64))
U64_MAX = 2**64 - 1


def _part(ref: int, fill: int = 0xAB) -> SignaturePart:
    return SignaturePart(ref, bytes([fill]) * 64)


def _wallet_spend():
    return build.spend(wallet_principal(K2_PUB), DEST, 10**9, nonce=1, gas_price=1).with_signature(SIG)


def _wallet_spawn():
    return build.wallet_spawn(K2_PUB).with_signature(SIG)


def _multisig_self_spawn():
    args = multisig_args(3, [K2_PUB, K2B_PUB, A1_PUB])
    return build.multisig_spawn(args).with_parts((_part(0), _part(1), _part(2)))


def _multisig_spend():
    principal = compute_principal(Template.MULTISIG, multisig_args(2, [K2_PUB, K2B_PUB]))
    return build.spend(principal, DEST, 5, nonce=0).with_parts((_part(0), _part(1)))


def _drain():
    vesting = compute_principal(Template.VESTING, multisig_args(1, [K2_PUB]))
    return build.drain(vesting, DEST, wallet_principal(A1_PUB), 7, nonce=3).with_parts((_part(0),))


def _vault_spawn_by_wallet():
    args = vault_args(wallet_principal(K2_PUB), 1000, 250, 10, 20)
    return build.vault_spawn(wallet_principal(K2_PUB), args, nonce=2).with_signature(SIG)


# ---------------------------------------------------------------------------------------------
# precise errors


def test_oversize():
    raw = _wallet_spend().raw()
    padded = raw + bytes(1025 - len(raw))
    with pytest.raises(DecodeError, match="transaction is 1025 bytes; the maximum is 1024"):
        decode_tx(padded)
    with pytest.raises(DecodeError, match="maximum is 1024"):
        decode_tx(padded, signed=False)


def test_max_size_boundary_reaches_the_parser():
    raw = _wallet_spend().raw()
    # 1024 bytes is not refused for size: the trailing bytes are what is wrong
    with pytest.raises(DecodeError, match="signature block of 968 bytes"):
        decode_tx(raw + bytes(1024 - len(raw)))


@pytest.mark.parametrize(("first", "version"), [(0x04, 1), (0x08, 2), (0xFC, 63)])
def test_version(first, version):
    raw = bytes([first]) + _wallet_spend().raw()[1:]
    with pytest.raises(DecodeError, match=f"unsupported transaction version {version}$"):
        decode_tx(raw)


@pytest.mark.parametrize("method", [1, 15, 18, 63, 64])
def test_unknown_method(method):
    from core.codec import encode_compact

    raw = _wallet_spend().raw()
    bad = raw[:25] + encode_compact(method) + raw[26:]
    with pytest.raises(DecodeError, match=f"unknown method selector {method}$"):
        decode_tx(bad)


@pytest.mark.parametrize("template", [bytes(24), bytes(23) + b"\x05", b"\x01" + bytes(22) + b"\x01"])
def test_unknown_template(template):
    raw = _wallet_spawn().raw()
    assert raw[26:50] == bytes(23) + b"\x01"
    bad = raw[:26] + template + raw[50:]
    with pytest.raises(DecodeError, match=f"unknown template address {template.hex()}"):
        decode_tx(bad)


@pytest.mark.parametrize(
    "make", [_wallet_spend, _wallet_spawn, _multisig_self_spawn, _vault_spawn_by_wallet], ids=lambda f: f.__name__
)
def test_every_prefix_is_an_error(make):
    raw = make().raw()
    for n in range(len(raw)):
        with pytest.raises(DecodeError):
            decode_tx(raw[:n])
    assert decode_tx(raw) == make()


@pytest.mark.parametrize("make", [_wallet_spend, _wallet_spawn, _multisig_spend, _drain], ids=lambda f: f.__name__)
def test_every_unsigned_prefix_is_an_error(make):
    tx = make()
    unsigned = tx.unsigned_bytes()
    for n in range(len(unsigned)):
        with pytest.raises(DecodeError):
            decode_tx(unsigned[:n], signed=False)
        with pytest.raises(DecodeError):
            decode_tx(unsigned[:n])


def test_truncation_messages():
    # each names, in words, the field the bytes end in (not the codec's reader)
    raw = _wallet_spend().raw()
    with pytest.raises(DecodeError, match="^no bytes$"):
        decode_tx(b"")
    with pytest.raises(DecodeError, match="^too short: it ends inside the principal address$"):
        decode_tx(raw[:11])
    with pytest.raises(DecodeError, match="^too short: it ends inside the method selector$"):
        decode_tx(raw[:25] + b"\x41")  # a two-byte compact cut after its first byte
    with pytest.raises(DecodeError, match="^too short: it ends inside the spend arguments$"):
        decode_tx(raw[:40])
    spawn = _wallet_spawn().raw()
    with pytest.raises(DecodeError, match="^too short: it ends inside the template address$"):
        decode_tx(spawn[:30])
    with pytest.raises(DecodeError, match="^too short: it ends inside the signature$"):
        decode_tx(spawn[:-1])


def test_bytes_that_are_no_transaction_say_so_in_words():
    # 0xde opens a four-byte compact: 0xdeadbeef is no compact8, so no version 0 transaction
    with pytest.raises(DecodeError, match=r"^it does not start with transaction version 0 \(first byte 0xde\)$"):
        decode_tx(bytes.fromhex("deadbeef"))
    raw = _wallet_spend().raw()
    with pytest.raises(DecodeError, match="^unknown method selector 16336$"):  # over 8 bits: no compact8 error
        decode_tx(raw[:25] + bytes.fromhex("41ff") + raw[26:])


@pytest.mark.parametrize("make", [_multisig_spend, _drain], ids=lambda f: f.__name__)
def test_prefixes_of_multisig_spend(make):
    # Without account state the parser cannot know Required: cutting whole parts off a
    # non-spawn multisig tx leaves a shorter well-formed tx; every other cut is an error.
    tx = make()
    raw = tx.raw()
    base = len(tx.unsigned_bytes())
    for n in range(len(raw)):
        extra = n - base
        if extra > 0 and extra % 65 == 0:
            assert decode_tx(raw[:n]).parts == tx.parts[: extra // 65]
        elif extra == 64 and tx.method != Method.DRAIN:
            assert decode_tx(raw[:n]).signature == raw[base:n]
        else:
            with pytest.raises(DecodeError):
                decode_tx(raw[:n])


def test_trailing_bytes_after_wallet_signature():
    raw = _wallet_spawn().raw()
    with pytest.raises(DecodeError, match="1 trailing bytes after signature block"):
        decode_tx(raw + b"\x00")
    spend = _wallet_spend().raw()
    with pytest.raises(DecodeError, match="signature block of 67 bytes is neither one signature"):
        decode_tx(spend + b"\x00\x00\x00")


def test_trailing_bytes_after_unsigned():
    tx = _wallet_spend()
    with pytest.raises(DecodeError, match="64 trailing bytes after unsigned transaction"):
        decode_tx(tx.raw(), signed=False)


def test_non_canonical_nonce():
    tx = build.spend(wallet_principal(K2_PUB), DEST, 5, nonce=1).with_signature(SIG)
    raw = tx.raw()
    assert raw[26] == 0x04  # nonce 1
    bad = raw[:26] + b"\x05\x00" + raw[27:]  # 1 in two-byte form
    with pytest.raises(DecodeError, match="non-canonical nonce: 1 in two-byte form"):  # named as the field
        decode_tx(bad)
    bad = raw[:26] + b"\x03\x01\x00\x00\x00" + raw[27:]  # 1 in big form
    with pytest.raises(DecodeError, match="non-canonical nonce"):
        decode_tx(bad)


def test_signed_without_signature():
    for make in (_wallet_spend, _wallet_spawn, _multisig_self_spawn, _drain):
        with pytest.raises(DecodeError, match="transaction has no signature"):
            decode_tx(make().unsigned_bytes())


@pytest.mark.parametrize("refs", [(1, 0), (0, 0), (2, 1, 3)])
def test_non_increasing_refs(refs):
    tx = _multisig_spend().with_parts(tuple(_part(r) for r in refs))
    with pytest.raises(DecodeError, match=r"strictly increasing refs, got \[" + ", ".join(map(str, refs))):
        decode_tx(tx.raw())


def test_non_increasing_refs_in_self_spawn():
    tx = _multisig_self_spawn().with_parts((_part(0), _part(2), _part(1)))
    with pytest.raises(DecodeError, match="strictly increasing refs"):
        decode_tx(tx.raw())


def test_self_spawn_ref_out_of_range():
    args = multisig_args(2, [K2_PUB, K2B_PUB])
    tx = build.multisig_spawn(args).with_parts((_part(0), _part(2)))
    with pytest.raises(DecodeError, match="signature ref 2 is out of range for 2 keys"):
        decode_tx(tx.raw())


def test_self_spawn_part_count_is_required():
    tx = _multisig_self_spawn()
    raw = tx.raw()
    with pytest.raises(DecodeError, match="trailing bytes after signature block"):
        decode_tx(raw + _part(3).encode())


@pytest.mark.parametrize("block", [SIG, _part(0).encode(), b""])
def test_vault_as_its_own_principal(block):
    # a vault never signs, so a spawn whose principal is the vault itself is no self-spawn: it
    # decodes like any spawn paid by another account (and fails verification later), never crashes
    args = vault_args(wallet_principal(K2_PUB), 10, 5, 1, 2)
    tx = build.vault_spawn(compute_principal(Template.VAULT, args), args, nonce=0)
    assert not tx.is_self_spawn
    raw = tx.unsigned_bytes() + block
    if not block:
        with pytest.raises(DecodeError, match="no signature"):
            decode_tx(raw)
        return
    decoded = decode_tx(raw)
    assert decoded.raw() == raw
    assert not decoded.is_self_spawn


# ---------------------------------------------------------------------------------------------
# unsigned round trips


def _unsigned_cases():
    ms_args = multisig_args(2, [K2_PUB, K2B_PUB, A1_PUB])
    vesting = compute_principal(Template.VESTING, ms_args)
    return [
        build.spend(wallet_principal(K2_PUB), DEST, U64_MAX, nonce=U64_MAX, gas_price=U64_MAX),
        build.drain(vesting, DEST, wallet_principal(K2_PUB), 12345, nonce=9, gas_price=2),
        build.vault_spawn(vesting, vault_args(vesting, 10**15, 10**14, 100, 2**32 - 1), nonce=1),
        build.multisig_spawn(ms_args, template=Template.VESTING),
        build.multisig_spawn(ms_args, principal=wallet_principal(A1_PUB), nonce=4),
        build.wallet_spawn(A1_PUB, gas_price=1000),
    ]


@pytest.mark.parametrize("tx", _unsigned_cases(), ids=lambda tx: f"{tx.method.name}-{tx.template}")
def test_unsigned_round_trip(tx):
    unsigned = tx.unsigned_bytes()
    decoded = decode_tx(unsigned, signed=False)
    assert decoded == tx
    assert not decoded.is_signed
    assert decoded.unsigned_bytes() == unsigned


def test_unsigned_spend_layout():
    # hand-built bytes (spec/wallet.md §3.2), no library encoder involved
    principal = bytes(4) + b"\x11" * 20
    raw = b"\x00" + principal + b"\x40" + b"\x08" + b"\x0c" + DEST + bytes.fromhex("02286bee")
    tx = decode_tx(raw, signed=False)
    assert (tx.principal, tx.method, tx.template, tx.nonce, tx.gas_price) == (principal, Method.SPEND, None, 2, 3)
    assert (tx.args.destination, tx.args.amount) == (DEST, 10**9)


# ---------------------------------------------------------------------------------------------
# properties

_HEADERS = [b"\x00" + bytes(24) + m for m in (b"\x00", b"\x40", b"\x44")] + [
    b"\x00" + bytes(24) + b"\x00" + bytes(23) + bytes([t]) for t in (1, 2, 3, 4)
]
_noise = st.one_of(
    st.binary(max_size=1100),
    st.builds(lambda h, tail: h + tail, st.sampled_from(_HEADERS), st.binary(max_size=1000)),
)


def _encoded_afresh(tx, signed: bool = True) -> bytes:
    """The encoding of an equal transaction built field by field: none of the bytes a decoded one keeps."""
    fresh = dataclasses.replace(tx)
    assert "_unsigned" not in fresh.__dict__ and "_raw" not in fresh.__dict__
    return fresh.raw() if signed else fresh.unsigned_bytes()


def _check_random(raw: bytes, signed: bool) -> None:
    try:
        tx = decode_tx(raw, signed=signed)
    except DecodeError:
        return
    # decoding is canonical: what decodes is exactly what encoding the value gives (decode_tx keeps the bytes
    # it read as the transaction's encodings and id on the strength of this)
    assert _encoded_afresh(tx, signed) == raw
    assert (tx.raw() if signed else tx.unsigned_bytes()) == raw


@settings(max_examples=200, deadline=None)
@given(_noise, st.booleans())
def test_random_bytes_only_decode_error(raw, signed):
    _check_random(raw, signed)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([_wallet_spend, _wallet_spawn, _multisig_self_spawn, _drain, _vault_spawn_by_wallet]),
       st.data())
def test_mutated_valid_tx_only_decode_error(make, data):
    raw = bytearray(make().raw())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    _check_random(bytes(raw), data.draw(st.booleans()))


_u64 = st.integers(0, U64_MAX)
_gas = st.integers(1, U64_MAX)
_addr = st.binary(min_size=20, max_size=20).map(lambda b: bytes(4) + b)
_key = st.binary(min_size=32, max_size=32)
_sig = st.binary(min_size=64, max_size=64)


@st.composite
def _parts(draw, n_keys: int, count: int):
    refs = sorted(draw(st.lists(st.integers(0, n_keys - 1), min_size=count, max_size=count, unique=True)))
    return tuple(SignaturePart(r, draw(_sig)) for r in refs)


@st.composite
def _ms_args(draw):
    keys = draw(st.lists(_key, min_size=1, max_size=10))
    return multisig_args(draw(st.integers(1, len(keys))), keys)


@st.composite
def _signer(draw, tx):
    """Sign as a wallet (one signature) or as a k-of-n multisig (k parts, refs < n ≤ 10)."""
    if tx.method != Method.DRAIN and draw(st.booleans()):
        return tx.with_signature(draw(_sig))
    n = draw(st.integers(1, 10))
    return tx.with_parts(draw(_parts(n, draw(st.integers(1, n)))))


@st.composite
def _valid_tx(draw):
    kind = draw(st.sampled_from(["wallet_spawn", "multisig_spawn", "spawn_other", "vault", "spend", "drain"]))
    nonce, gas = draw(_u64), draw(_gas)
    if kind == "wallet_spawn":
        return build.wallet_spawn(draw(_key), nonce, gas).with_signature(draw(_sig))
    if kind == "multisig_spawn":
        args = draw(_ms_args())
        tmpl = draw(st.sampled_from([Template.MULTISIG, Template.VESTING]))
        tx = build.multisig_spawn(args, nonce, gas, template=tmpl)
        return tx.with_parts(draw(_parts(len(args.public_keys), args.required)))
    if kind == "spawn_other":
        tmpl = draw(st.sampled_from([Template.MULTISIG, Template.VESTING]))
        return draw(_signer(build.multisig_spawn(draw(_ms_args()), nonce, gas, template=tmpl, principal=draw(_addr))))
    if kind == "vault":
        total = draw(_u64)
        start = draw(st.integers(0, 2**32 - 1))
        args = vault_args(
            draw(_addr), total, draw(st.integers(0, total)), start, draw(st.integers(start, 2**32 - 1))
        )
        return draw(_signer(build.vault_spawn(draw(_addr), args, nonce, gas)))
    if kind == "spend":
        return draw(_signer(build.spend(draw(_addr), draw(_addr), draw(_u64), nonce, gas)))
    return draw(_signer(build.drain(draw(_addr), draw(_addr), draw(_addr), draw(_u64), nonce, gas)))


@settings(max_examples=300, deadline=None)
@given(_valid_tx())
def test_round_trip_valid_transactions(tx):
    raw = tx.raw()
    if len(raw) > 1024:  # e.g. a 10-of-10 self-spawn with large nonce and gas price
        with pytest.raises(DecodeError, match="maximum is 1024"):
            decode_tx(raw)
        return
    decoded = decode_tx(raw)
    assert decoded == tx
    assert decoded.raw() == raw == _encoded_afresh(decoded)
    assert decoded.id == tx.id == blake3(raw).digest()
    assert decode_tx(tx.unsigned_bytes(), signed=False) == dataclasses.replace(tx, signature=None, parts=None)


@pytest.mark.parametrize(
    "make", [_wallet_spend, _wallet_spawn, _multisig_self_spawn, _multisig_spend, _drain], ids=lambda f: f.__name__
)
def test_decoded_encodings_and_id_are_the_input_bytes(make):
    raw = make().raw()
    tx = decode_tx(raw)
    assert tx.unsigned_bytes() == raw[: len(raw) - len(tx.signature_block())] == _encoded_afresh(tx, signed=False)
    assert tx.raw() == raw
    assert tx.id == blake3(raw).digest()
    # another signature block: the same unsigned bytes, new raw bytes and id
    resigned = tx.with_signature(bytes(64)) if tx.signature is not None else tx.with_parts((_part(0, 0x01),))
    assert resigned.unsigned_bytes() == tx.unsigned_bytes()
    assert resigned.raw() == tx.unsigned_bytes() + resigned.signature_block() == _encoded_afresh(resigned)
    assert resigned.id == blake3(resigned.raw()).digest() != tx.id
