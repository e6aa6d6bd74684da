"""Transactions of genvm version 0: layout, decoding and ids (spec/wallet.md §3.2–3.4).

    version (compact8 = 0) ‖ principal (24) ‖ method (compact8) ‖ [template (24), spawn only]
    ‖ nonce (compact64) ‖ gas price (compact64) ‖ args ‖ signature block

The signature block is one 64-byte signature for a wallet principal, or exactly Required parts
(compact8 ref ‖ 64-byte signature, refs strictly increasing) for a multisig or vesting principal.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Callable
from typing import Annotated, TypeVar

from core.codec import Compact, FixedBytes, Reader, Struct, decode_compact, encode_compact
from core.crypto.hashing import hash32
from core.crypto.signing import SIGNATURE_SIZE
from core.errors import DecodeError, TruncatedData, TxError
from core.tx.templates import SPAWN_ARGS, MultisigSpawnArgs, SpawnArgs, Template, compute_principal
from core.wallet.address import ADDRESS_SIZE

MAX_TX_SIZE = 1024
TX_VERSION = 0
PART_SIZE = 1 + SIGNATURE_SIZE  # compact8 ref < 64 is one byte

T = TypeVar("T")


class Method(enum.IntEnum):
    SPAWN = 0
    SPEND = 16
    DRAIN = 17


class SpendArgs(Struct):
    destination: Annotated[bytes, FixedBytes(ADDRESS_SIZE)]
    amount: Annotated[int, Compact(64)]


class DrainArgs(Struct):
    vault: Annotated[bytes, FixedBytes(ADDRESS_SIZE)]
    destination: Annotated[bytes, FixedBytes(ADDRESS_SIZE)]
    amount: Annotated[int, Compact(64)]


TxArgs = SpawnArgs | SpendArgs | DrainArgs


class SignaturePart(Struct):
    """One co-signer's signature in a multisig or vesting transaction."""

    ref: Annotated[int, Compact(8)]
    signature: Annotated[bytes, FixedBytes(SIGNATURE_SIZE)]


@dataclasses.dataclass(frozen=True)
class Transaction:
    """A transaction, unsigned (`signature` and `parts` both None) or signed (exactly one set)."""

    principal: bytes
    method: Method
    template: Template | None
    nonce: int
    gas_price: int
    args: TxArgs
    signature: bytes | None = None
    parts: tuple[SignaturePart, ...] | None = None

    def __post_init__(self) -> None:
        if (self.method == Method.SPAWN) != (self.template is not None):
            raise TxError("a template is given exactly for spawn transactions")
        if self.signature is not None and self.parts is not None:
            raise TxError("a transaction has either one signature or multisig parts, not both")

    # ----------------------------------------------------------------------------------------
    @property
    def is_signed(self) -> bool:
        return self.signature is not None or self.parts is not None

    @property
    def is_self_spawn(self) -> bool:
        """A spawn paid for by the account it creates (never a vault: vaults cannot sign)."""
        return (
            self.method == Method.SPAWN
            and self.template not in (None, Template.VAULT)
            and compute_principal(self.template, self.args) == self.principal
        )

    # The encodings and the id are computed once per (immutable) instance: a mempool asks for the ids
    # of an account's whole queue on every admission.  cached_property stores in the instance dict,
    # past the frozen dataclass's __setattr__; `with_signature` makes a new instance, with no cache.
    def unsigned_bytes(self) -> bytes:
        return self._unsigned

    @functools.cached_property
    def _unsigned(self) -> bytes:
        out = bytearray()
        encode_compact(TX_VERSION, out)
        out += self.principal
        encode_compact(self.method, out)
        if self.template is not None:
            out += self.template.address
        Compact(64).write(self.nonce, out)
        Compact(64).write(self.gas_price, out)
        self.args.write(out)
        return bytes(out)

    def signature_block(self) -> bytes:
        if self.signature is not None:
            return self.signature
        if self.parts is not None:
            return b"".join(p.encode() for p in self.parts)
        raise TxError("the transaction is not signed")

    def raw(self) -> bytes:
        """The signed bytes sent to the network."""
        return self._raw

    @functools.cached_property
    def _raw(self) -> bytes:
        return self._unsigned + self.signature_block()

    @functools.cached_property
    def id(self) -> bytes:
        """BLAKE3 of the signed bytes: any change to a signature changes the id."""
        return hash32(self._raw)

    @property
    def max_spend(self) -> int:
        return self.args.amount if isinstance(self.args, SpendArgs) else 0

    def with_signature(self, signature: bytes) -> Transaction:
        if len(signature) != SIGNATURE_SIZE:
            raise TxError(f"a signature is {SIGNATURE_SIZE} bytes, got {len(signature)}")
        return self._signed(signature, None)

    def with_parts(self, parts: tuple[SignaturePart, ...]) -> Transaction:
        return self._signed(None, tuple(parts))

    def _signed(self, signature: bytes | None, parts: tuple[SignaturePart, ...] | None) -> Transaction:
        """Self with another signature block, sharing self's cached unsigned encoding (built field by field:
        dataclasses.replace was a fifth of the time of decoding a transaction)."""
        signed = Transaction(self.principal, self.method, self.template, self.nonce, self.gas_price, self.args,
                             signature, parts)
        unsigned = self.__dict__.get("_unsigned")
        if unsigned is not None:
            signed.__dict__["_unsigned"] = unsigned
        return signed


# --------------------------------------------------------------------------------------------
# Decoding


def _field(what: str, read: Callable[[], T]) -> T:
    """`read()`, with a failure said in words naming the field: where the bytes end too soon, or what is wrong."""
    try:
        return read()
    except TruncatedData:
        raise TruncatedData(f"too short: it ends inside the {what}") from None
    except DecodeError as e:
        raise DecodeError(str(e) if what in str(e) else f"bad {what}: {e}") from None


def _version(r: Reader) -> int:
    if r.remaining == 0:
        raise TruncatedData("no bytes")
    first = r.data[r.pos]
    try:
        return Compact(8).read(r)
    except TruncatedData:
        raise TruncatedData("too short: it ends inside the version") from None
    except DecodeError:
        raise DecodeError(f"it does not start with transaction version {TX_VERSION} (first byte 0x{first:02x})") from None


def decode_unsigned(r: Reader) -> Transaction:
    """Read the unsigned part of a transaction; a failure names the field in words."""
    version = _version(r)
    if version != TX_VERSION:
        raise DecodeError(f"unsupported transaction version {version}")
    principal = _field("principal address", lambda: r.read(ADDRESS_SIZE, "principal"))
    method_num = _field("method selector", lambda: decode_compact(r, "method selector"))  # over 8 bits: unknown
    try:
        method = Method(method_num)
    except ValueError:
        raise DecodeError(f"unknown method selector {method_num}") from None
    template = None
    if method == Method.SPAWN:
        try:
            template = Template.from_address(_field("template address", lambda: r.read(ADDRESS_SIZE, "template")))
        except TxError as e:
            raise DecodeError(str(e)) from None
    nonce = _field("nonce", lambda: decode_compact(r, "nonce"))  # at most 8 bytes: never over 64 bits
    gas_price = _field("gas price", lambda: decode_compact(r, "gas price"))
    if template is not None:
        args: TxArgs = _field(f"{template.name.lower()} spawn arguments", lambda: SPAWN_ARGS[template].read(r))
    elif method == Method.SPEND:
        args = _field("spend arguments", lambda: SpendArgs.read(r))
    else:
        args = _field("drain arguments", lambda: DrainArgs.read(r))
    return Transaction(principal, method, template, nonce, gas_price, args)


def _read_parts(r: Reader, count: int | None, n_keys: int | None) -> tuple[SignaturePart, ...]:
    if count is None:
        if r.remaining % PART_SIZE:
            raise DecodeError(
                f"signature block of {r.remaining} bytes is neither one signature ({SIGNATURE_SIZE}) "
                f"nor multisig parts ({PART_SIZE} bytes each)"
            )
        count = r.remaining // PART_SIZE
    parts = tuple(_field("signature parts", lambda: SignaturePart.read(r)) for _ in range(count))
    refs = [p.ref for p in parts]
    if any(b <= a for a, b in zip(refs, refs[1:])):
        raise DecodeError(f"signature parts must have strictly increasing refs, got {refs}")
    if n_keys is not None and refs and refs[-1] >= n_keys:
        raise DecodeError(f"signature ref {refs[-1]} is out of range for {n_keys} keys")
    return parts


def decode_tx(raw: bytes, *, signed: bool = True) -> Transaction:
    """Decode transaction bytes, consuming them exactly, or raise `DecodeError` saying why."""
    if len(raw) > MAX_TX_SIZE:
        raise DecodeError(f"transaction is {len(raw)} bytes; the maximum is {MAX_TX_SIZE}")
    r = Reader(raw)
    tx = decode_unsigned(r)
    # Decoding is canonical (one encoding per value), so the bytes read are the encodings: seed the caches
    # with them instead of encoding again.
    tx.__dict__["_unsigned"] = r.data[: r.pos]
    if not signed:
        r.finish("unsigned transaction")
        return tx
    if r.remaining == 0:
        raise DecodeError("transaction has no signature (decode it as unsigned?)")
    if tx.is_self_spawn:
        if tx.template == Template.WALLET:
            tx = tx.with_signature(_field("signature", lambda: r.read(SIGNATURE_SIZE, "signature")))
        else:
            assert isinstance(tx.args, MultisigSpawnArgs)
            tx = tx.with_parts(_read_parts(r, tx.args.required, len(tx.args.public_keys)))
    elif tx.method != Method.DRAIN and r.remaining == SIGNATURE_SIZE:
        tx = tx.with_signature(r.read(SIGNATURE_SIZE))
    else:
        tx = tx.with_parts(_read_parts(r, None, None))
    r.finish("signature block")
    tx.__dict__["_raw"] = r.data
    return tx
