"""SCALE encoding: the one canonical codec for every wire type."""

from core.codec.scale import (
    Array,
    Bool,
    Bytes,
    Codec,
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

__all__ = [
    "Array",
    "Bool",
    "Bytes",
    "Codec",
    "Compact",
    "FixedBytes",
    "Option",
    "Reader",
    "Slice",
    "String",
    "Struct",
    "UInt",
    "decode_compact",
    "encode_compact",
]
