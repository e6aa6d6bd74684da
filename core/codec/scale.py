"""SCALE, as spacemeshos/go-scale writes it: the one canonical codec for every wire type.

Numbers are *compact* (mode in the low two bits), byte arrays are raw, slices carry a compact
length and a declared maximum, options are a 0/1 byte.  Decoding is strict: non-minimal
compacts, oversize slices, out-of-range values and trailing bytes are errors, so that every
value has exactly one encoding and ids (hashes of encodings) are unambiguous.

Wire types are declared as frozen dataclasses deriving from `Struct`, with each field's codec
given by `typing.Annotated`::

    class SpendArgs(Struct):
        destination: Annotated[bytes, FixedBytes(24)]
        amount: Annotated[int, Compact(64)]

A field whose annotation is itself a `Struct` subclass needs no codec.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar, Self

from core.errors import DecodeError, TruncatedData

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


class Reader:
    """A cursor over bytes; every read checks that enough input remains."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = bytes(data)
        self.pos = pos

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def read(self, n: int, what: str = "value") -> bytes:
        if n > len(self.data) - self.pos:  # self.remaining, inlined: this is the hottest line of decoding
            raise TruncatedData(f"unexpected end of data reading {what}: need {n} bytes, have {self.remaining}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def finish(self, what: str = "value") -> None:
        """Require that all input was consumed."""
        if self.remaining:
            raise DecodeError(f"{self.remaining} trailing bytes after {what}")


class Codec:
    """Encodes one kind of value into a bytearray and reads it back from a `Reader`."""

    def write(self, value: Any, out: bytearray) -> None:
        raise NotImplementedError

    def read(self, r: Reader) -> Any:
        raise NotImplementedError

    def encode(self, value: Any) -> bytes:
        out = bytearray()
        self.write(value, out)
        return bytes(out)

    def decode(self, data: bytes) -> Any:
        r = Reader(data)
        value = self.read(r)
        r.finish()
        return value


# --------------------------------------------------------------------------------------------
# Compact integers


def encode_compact(value: int, out: bytearray | None = None) -> bytes:
    """The minimal compact form of a non-negative integer (< 2^64)."""
    buf = bytearray() if out is None else out
    if value < 0:
        raise ValueError("compact integers are unsigned")
    if value < 1 << 6:
        buf.append(value << 2)
    elif value < 1 << 14:
        buf += ((value << 2) | 1).to_bytes(2, "little")
    elif value < 1 << 30:
        buf += ((value << 2) | 2).to_bytes(4, "little")
    else:
        n = (value.bit_length() + 7) // 8
        if n > 8:
            raise ValueError("compact integer exceeds 64 bits")
        buf.append(((n - 4) << 2) | 3)
        buf += value.to_bytes(n, "little")
    return bytes(buf) if out is None else b""


def decode_compact(r: Reader, what: str = "compact integer") -> int:
    """Read a compact integer, rejecting every non-canonical form."""
    first = r.read(1, what)[0]
    mode = first & 3
    if mode == 0:
        return first >> 2
    if mode == 1:
        value = int.from_bytes(bytes([first]) + r.read(1, what), "little") >> 2
        if value < 1 << 6:
            raise DecodeError(f"non-canonical {what}: {value} in two-byte form")
        return value
    if mode == 2:
        value = int.from_bytes(bytes([first]) + r.read(3, what), "little") >> 2
        if value < 1 << 14:
            raise DecodeError(f"non-canonical {what}: {value} in four-byte form")
        return value
    n = (first >> 2) + 4
    if n > 8:
        raise DecodeError(f"{what} is {n} bytes long; at most 8 are allowed")
    raw = r.read(n, what)
    if raw[-1] == 0:
        raise DecodeError(f"non-canonical {what}: big form with a zero top byte")
    value = int.from_bytes(raw, "little")
    if value < 1 << 30:
        raise DecodeError(f"non-canonical {what}: {value} in big form")
    return value


@dataclasses.dataclass(frozen=True)
class Compact(Codec):
    """A compact unsigned integer of at most `bits` bits (go-scale's EncodeCompactN)."""

    bits: int = 64

    def write(self, value: int, out: bytearray) -> None:
        _check_uint(value, self.bits)
        encode_compact(value, out)

    def read(self, r: Reader) -> int:
        value = decode_compact(r, f"compact{self.bits}")
        if value >> self.bits:
            raise DecodeError(f"compact{self.bits} value {value} is out of range")
        return value


@dataclasses.dataclass(frozen=True)
class UInt(Codec):
    """A fixed-width little-endian unsigned integer (go-scale's EncodeUintN)."""

    bits: int

    def write(self, value: int, out: bytearray) -> None:
        _check_uint(value, self.bits)
        out += value.to_bytes(self.bits // 8, "little")

    def read(self, r: Reader) -> int:
        return int.from_bytes(r.read(self.bits // 8, f"uint{self.bits}"), "little")


def _check_uint(value: int, bits: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >> bits:
        raise ValueError(f"{value!r} is not an unsigned {bits}-bit integer")


class Bool(Codec):
    """One byte, 0 or 1; any other byte is an error."""

    def write(self, value: bool, out: bytearray) -> None:
        out.append(1 if value else 0)

    def read(self, r: Reader) -> bool:
        b = r.read(1, "bool")[0]
        if b > 1:
            raise DecodeError(f"invalid bool byte {b}")
        return b == 1


# --------------------------------------------------------------------------------------------
# Bytes and containers


@dataclasses.dataclass(frozen=True)
class FixedBytes(Codec):
    """A byte array of fixed size, written raw."""

    size: int

    def write(self, value: bytes, out: bytearray) -> None:
        if len(value) != self.size:
            raise ValueError(f"expected {self.size} bytes, got {len(value)}")
        out += value

    def read(self, r: Reader) -> bytes:
        return r.read(self.size, f"{self.size}-byte array")


@dataclasses.dataclass(frozen=True)
class Bytes(Codec):
    """A compact length then raw bytes, at most `max` of them."""

    max: int

    def write(self, value: bytes, out: bytearray) -> None:
        if len(value) > self.max:
            raise ValueError(f"byte slice of {len(value)} exceeds the maximum {self.max}")
        encode_compact(len(value), out)
        out += value

    def read(self, r: Reader) -> bytes:
        n = decode_compact(r, "byte slice length")
        if n > self.max:
            raise DecodeError(f"byte slice of {n} exceeds the maximum {self.max}")
        return r.read(n, "byte slice")


@dataclasses.dataclass(frozen=True)
class String(Codec):
    """A UTF-8 string, encoded like a byte slice."""

    max: int

    def write(self, value: str, out: bytearray) -> None:
        Bytes(self.max).write(value.encode(), out)

    def read(self, r: Reader) -> str:
        raw = Bytes(self.max).read(r)
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise DecodeError("string is not valid UTF-8") from None


@dataclasses.dataclass(frozen=True)
class Slice(Codec):
    """A compact count then that many elements, at most `max`; decodes to a tuple."""

    elem: Any
    max: int

    def write(self, value: tuple, out: bytearray) -> None:
        if len(value) > self.max:
            raise ValueError(f"list of {len(value)} exceeds the maximum {self.max}")
        encode_compact(len(value), out)
        codec = as_codec(self.elem)
        for item in value:
            codec.write(item, out)

    def read(self, r: Reader) -> tuple:
        n = decode_compact(r, "list length")
        if n > self.max:
            raise DecodeError(f"list of {n} exceeds the maximum {self.max}")
        codec = as_codec(self.elem)
        return tuple(codec.read(r) for _ in range(n))


@dataclasses.dataclass(frozen=True)
class Array(Codec):
    """Exactly `size` elements with no count prefix (a go-scale fixed array)."""

    elem: Any
    size: int

    def write(self, value: tuple, out: bytearray) -> None:
        if len(value) != self.size:
            raise ValueError(f"expected {self.size} elements, got {len(value)}")
        codec = as_codec(self.elem)
        for item in value:
            codec.write(item, out)

    def read(self, r: Reader) -> tuple:
        codec = as_codec(self.elem)
        return tuple(codec.read(r) for _ in range(self.size))


@dataclasses.dataclass(frozen=True)
class Option(Codec):
    """A pointer: 0 for None, 1 then the value."""

    elem: Any

    def write(self, value: Any, out: bytearray) -> None:
        if value is None:
            out.append(0)
        else:
            out.append(1)
            as_codec(self.elem).write(value, out)

    def read(self, r: Reader) -> Any:
        flag = r.read(1, "option flag")[0]
        if flag == 0:
            return None
        if flag != 1:
            raise DecodeError(f"invalid option flag {flag}")
        return as_codec(self.elem).read(r)


# --------------------------------------------------------------------------------------------
# Declarative structs


class _StructCodec(Codec):
    def __init__(self, cls: type[Struct]) -> None:
        self.cls = cls

    def write(self, value: Struct, out: bytearray) -> None:
        value.write(out)

    def read(self, r: Reader) -> Struct:
        return self.cls.read(r)


def as_codec(spec: Any) -> Codec:
    """A codec instance for a codec or a `Struct` subclass."""
    if isinstance(spec, Codec):
        return spec
    if isinstance(spec, type) and issubclass(spec, Struct):
        return _StructCodec(spec)
    raise TypeError(f"no SCALE codec for {spec!r}")


class Struct:
    """Base of wire types: subclasses become frozen dataclasses encoded field by field."""

    __scale_fields__: ClassVar[tuple[tuple[str, Codec], ...] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__scale_fields__ = None
        dataclasses.dataclass(frozen=True)(cls)

    @classmethod
    def _fields(cls) -> tuple[tuple[str, Codec], ...]:
        fields = cls.__scale_fields__
        if fields is None:
            hints = typing.get_type_hints(cls, include_extras=True)
            resolved = []
            for f in dataclasses.fields(cls):
                hint = hints[f.name]
                if typing.get_origin(hint) is typing.Annotated:
                    codec = next(m for m in hint.__metadata__ if isinstance(m, Codec))
                else:
                    codec = as_codec(hint)
                resolved.append((f.name, codec))
            fields = cls.__scale_fields__ = tuple(resolved)
        return fields

    def write(self, out: bytearray) -> None:
        for name, codec in self._fields():
            codec.write(getattr(self, name), out)

    def encode(self) -> bytes:
        out = bytearray()
        self.write(out)
        return bytes(out)

    @classmethod
    def read(cls, r: Reader) -> Self:
        return cls(**{name: codec.read(r) for name, codec in cls._fields()})

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Decode exactly one value from `data`, rejecting trailing bytes."""
        r = Reader(data)
        value = cls.read(r)
        r.finish(cls.__name__)
        return value
