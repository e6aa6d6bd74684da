"""Spacemesh account addresses: 24 bytes shown as classic bech32 (spec/wallet.md §2.1).

Bytes 0..3 are reserved and must be zero; the network's HRP is part of the string form only.
Decoding is strict and says precisely what is wrong, because a mistyped address can lose funds.
"""

from __future__ import annotations

import bech32

from core.errors import AddressError

ADDRESS_SIZE = 24
RESERVED_SIZE = 4
_CHARSET_INDEX = {c: i for i, c in enumerate(bech32.CHARSET)}
_DATA_CHARS = (ADDRESS_SIZE * 8 + 4) // 5  # 39 five-bit groups carry 24 bytes
_CHECKSUM_CHARS = 6


def encode_address(address: bytes, hrp: str) -> str:
    if len(address) != ADDRESS_SIZE:
        raise AddressError(f"an address is {ADDRESS_SIZE} bytes, got {len(address)}")
    data = bech32.convertbits(address, 8, 5, True)
    return bech32.bech32_encode(hrp, data)


def decode_address(text: str, hrp: str | None = None) -> bytes:
    """Parse a bech32 address; with `hrp`, also require that network's prefix."""
    text = text.strip()
    if not text.isascii():
        raise AddressError("address has non-ASCII characters")
    if text.lower() != text and text.upper() != text:
        raise AddressError("address mixes upper and lower case")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1:
        raise AddressError("address has no human-readable prefix (expected e.g. 'sm1...')")
    prefix, rest = text[:sep], text[sep + 1 :]
    if any(ord(c) < 33 or ord(c) > 126 for c in prefix):
        raise AddressError("address prefix has invalid characters")
    bad = sorted({c for c in rest if c not in _CHARSET_INDEX})
    if bad:
        raise AddressError(f"address has characters outside the bech32 alphabet: {''.join(bad)!r}")
    if len(rest) != _DATA_CHARS + _CHECKSUM_CHARS:
        kind = "short" if len(rest) < _DATA_CHARS + _CHECKSUM_CHARS else "long"
        raise AddressError(f"address is too {kind}: {len(rest)} characters after '{prefix}1', expected 45")
    values = [_CHARSET_INDEX[c] for c in rest]
    if not bech32.bech32_verify_checksum(prefix, values):
        raise AddressError("address checksum is wrong (mistyped?)")
    if hrp is not None and prefix != hrp:
        raise AddressError(f"address is for network '{prefix}', expected '{hrp}'")
    raw = bech32.convertbits(values[:-_CHECKSUM_CHARS], 5, 8, False)
    if raw is None or len(raw) != ADDRESS_SIZE:
        raise AddressError("address does not carry 24 bytes")
    address = bytes(raw)
    if address[:RESERVED_SIZE] != bytes(RESERVED_SIZE):
        raise AddressError("address is missing its reserved space (first 4 bytes must be zero)")
    return address


def address_hrp(text: str) -> str:
    """The human-readable prefix of an address string, without validating the rest."""
    sep = text.strip().lower().rfind("1")
    return text.strip().lower()[:sep] if sep > 0 else ""
