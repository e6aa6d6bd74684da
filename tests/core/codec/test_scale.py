from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.codec import (
    Array,
    Bool,
    Bytes,
    Compact,
    FixedBytes,
    Option,
    Reader,
    Slice,
    String,
    Struct,
    UInt,
    decode_compact,
    encode_compact,
)
from core.errors import DecodeError

# spec/wallet.md §3.1
COMPACT_VECTORS = [
    (0, "00"),
    (1, "04"),
    (63, "fc"),
    (64, "0101"),
    (16383, "fdff"),
    (16384, "02000100"),
    (2**30 - 1, "feffffff"),
    (2**30, "0300000040"),
    (10**9, "02286bee"),
    (10**12, "070010a5d4e8"),
    (2**64 - 1, "13ffffffffffffffff"),
]


@pytest.mark.parametrize(("value", "hexstr"), COMPACT_VECTORS)
def test_compact_vectors(value, hexstr):
    assert encode_compact(value).hex() == hexstr
    assert Compact(64).decode(bytes.fromhex(hexstr)) == value


def test_golden_spend_payload():
    # genvm/templates/wallet/golden/SpendPayload.json: Nonce 1543, GasPrice 111222333
    out = bytearray()
    Compact(64).write(1543, out)
    Compact(64).write(111222333, out)
    assert out.hex() == "1d18f678841a"


@pytest.mark.parametrize(
    "hexstr",
    [
        "0100",  # 0 in two-byte form
        "fd00",  # 63 in two-byte form
        "02000000",  # 0 in four-byte form
        "feff0000",  # 16383 in four-byte form
        "03ffffff3f",  # 2^30-1 in big form
        "0700000040",  # big form with a zero top byte
        "17" + "ff" * 9,  # 9-byte big form
    ],
)
def test_compact_rejects_non_canonical(hexstr):
    with pytest.raises(DecodeError):
        decode_compact(Reader(bytes.fromhex(hexstr)))


@pytest.mark.parametrize("hexstr", ["", "01", "020000", "13ffff"])
def test_compact_rejects_truncated(hexstr):
    with pytest.raises(DecodeError, match="unexpected end"):
        decode_compact(Reader(bytes.fromhex(hexstr)))


def test_compact_width_limits():
    assert Compact(8).decode(b"\xfd\x03") == 255
    with pytest.raises(DecodeError, match="out of range"):
        Compact(8).decode(encode_compact(256))
    with pytest.raises(ValueError):
        Compact(8).encode(256)
    with pytest.raises(ValueError):
        Compact(64).encode(-1)


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_compact_roundtrip_and_minimal(value):
    raw = encode_compact(value)
    assert Compact(64).decode(raw) == value
    # size is the minimal one for the value's mode
    expected = 1 if value < 2**6 else 2 if value < 2**14 else 4 if value < 2**30 else 1 + (value.bit_length() + 7) // 8
    assert len(raw) == expected


class Inner(Struct):
    flag: Annotated[bool, Bool()]
    tag: Annotated[int, UInt(32)]


class Outer(Struct):
    key: Annotated[bytes, FixedBytes(4)]
    amount: Annotated[int, Compact(64)]
    blob: Annotated[bytes, Bytes(8)]
    name: Annotated[str, String(16)]
    items: Annotated[tuple, Slice(Compact(16), 3)]
    pair: Annotated[tuple, Array(FixedBytes(1), 2)]
    inner: Inner
    maybe: Annotated[Inner | None, Option(Inner)]


def test_struct_layout_byte_for_byte():
    value = Outer(
        key=b"\x01\x02\x03\x04",
        amount=64,
        blob=b"\xaa",
        name="hi",
        items=(1, 2),
        pair=(b"x", b"y"),
        inner=Inner(flag=True, tag=0x01020304),
        maybe=None,
    )
    expected = bytes.fromhex("01020304" "0101" "04aa" "086869" "080408" "7879" "01" "04030201" "00")
    assert value.encode() == expected
    assert Outer.decode(expected) == value


def test_struct_rejects_trailing_and_oversize():
    good = Outer(b"abcd", 0, b"", "", (), (b"a", b"b"), Inner(False, 0), Inner(True, 7))
    raw = good.encode()
    assert Outer.decode(raw) == good
    with pytest.raises(DecodeError, match="trailing"):
        Outer.decode(raw + b"\x00")
    oversize = bytes.fromhex("61626364" "00" "00" "00" "10" + "00" * 4)  # 4 items > max 3
    with pytest.raises(DecodeError, match="exceeds the maximum 3"):
        Outer.decode(oversize)
    with pytest.raises(ValueError):
        Outer(b"abcd", 0, b"x" * 9, "", (), (b"a", b"b"), Inner(False, 0), None).encode()


@pytest.mark.parametrize(("codec", "raw", "msg"), [(Bool(), b"\x02", "bool"), (Option(Bool()), b"\x02", "option")])
def test_invalid_flag_bytes(codec, raw, msg):
    with pytest.raises(DecodeError, match=msg):
        codec.decode(raw)


def test_string_must_be_utf8():
    with pytest.raises(DecodeError, match="UTF-8"):
        String(4).decode(b"\x04\xff")


inner_st = st.builds(Inner, flag=st.booleans(), tag=st.integers(0, 2**32 - 1))
outer_st = st.builds(
    Outer,
    key=st.binary(min_size=4, max_size=4),
    amount=st.integers(0, 2**64 - 1),
    blob=st.binary(max_size=8),
    name=st.text(max_size=4),
    items=st.lists(st.integers(0, 2**16 - 1), max_size=3).map(tuple),
    pair=st.tuples(st.binary(min_size=1, max_size=1), st.binary(min_size=1, max_size=1)),
    inner=inner_st,
    maybe=st.none() | inner_st,
)


@given(outer_st)
def test_struct_roundtrip(value):
    assert Outer.decode(value.encode()) == value


@given(st.binary(max_size=64))
def test_random_bytes_give_only_decode_errors(raw):
    try:
        value = Outer.decode(raw)
    except DecodeError:
        return
    assert value.encode() == raw  # whatever decodes is canonical
