"""Signing transactions and aggregating multisig parts (spec/wallet.md §3.3, §4.5).

Every signer signs genesis id ‖ unsigned bytes; a multisig transaction carries exactly Required
parts sorted by ref (go-spacemesh `multisig.Aggregator`), so partial aggregates never leave here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from core.crypto.signing import sign_tx, verify_tx
from core.errors import TxError
from core.tx.templates import MultisigSpawnArgs
from core.tx.transaction import SignaturePart, Transaction


def sign_single(tx: Transaction, secret_key: bytes, genesis_id: bytes) -> Transaction:
    """A wallet-principal transaction with its one signature."""
    return tx.with_signature(sign_tx(secret_key, genesis_id, tx.unsigned_bytes()))


def make_part(ref: int, signature: bytes) -> SignaturePart:
    """A part from a signature made anywhere (in memory, on a Ledger): `ref` is the key's position."""
    if not 0 <= ref < 64:
        raise TxError(f"signature ref must be 0..63, got {ref}")
    return SignaturePart(ref, signature)


def sign_part(tx: Transaction, secret_key: bytes, genesis_id: bytes, ref: int) -> SignaturePart:
    """One co-signer's part, signed in memory."""
    return make_part(ref, sign_tx(secret_key, genesis_id, tx.unsigned_bytes()))


def multisig_keys(tx: Transaction) -> tuple[int, tuple[bytes, ...]] | None:
    """(Required, keys) when the transaction itself names them: a multisig or vesting self-spawn."""
    if tx.is_self_spawn and isinstance(tx.args, MultisigSpawnArgs):
        return tx.args.required, tx.args.public_keys
    return None


def combine(
    tx: Transaction,
    parts: Iterable[SignaturePart],
    required: int,
    public_keys: Sequence[bytes] | None = None,
    genesis_id: bytes | None = None,
) -> Transaction:
    """Attach exactly `required` parts, sorted by ref; with keys and genesis id, check each one."""
    by_ref: dict[int, SignaturePart] = {}
    for part in parts:
        seen = by_ref.get(part.ref)
        if seen is not None and seen.signature != part.signature:
            raise TxError(f"two different signatures for ref {part.ref}")
        by_ref[part.ref] = part
    if len(by_ref) != required:
        raise TxError(f"a multisig transaction needs exactly {required} signature parts, got {len(by_ref)}")
    ordered = tuple(by_ref[ref] for ref in sorted(by_ref))
    if public_keys is not None:
        for part in ordered:
            if part.ref >= len(public_keys):
                raise TxError(f"signature ref {part.ref} is out of range for {len(public_keys)} keys")
            if genesis_id is not None and not verify_tx(
                public_keys[part.ref], genesis_id, tx.unsigned_bytes(), part.signature
            ):
                raise TxError(f"the signature of ref {part.ref} does not verify for this transaction and network")
    return tx.with_parts(ordered)


def verify(tx: Transaction, genesis_id: bytes, public_keys: Sequence[bytes]) -> bool:
    """Whether the transaction's signature block verifies against the principal's keys."""
    unsigned = tx.unsigned_bytes()
    if tx.signature is not None:
        return len(public_keys) == 1 and verify_tx(public_keys[0], genesis_id, unsigned, tx.signature)
    if tx.parts is None:
        return False
    return all(
        p.ref < len(public_keys) and verify_tx(public_keys[p.ref], genesis_id, unsigned, p.signature)
        for p in tx.parts
    )
