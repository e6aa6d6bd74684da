"""A transaction read against account state: what its bytes say, plus what only its principal's account knows.

The bytes of a transaction do not say everything the node needs to describe or check it: a spend's or drain's
template, the principal's `AccountKind` (which MaxGas depends on, spec/wallet.md §3.5) and the public keys its
signature must verify with all come from the principal's account, except for a self-spawn, which names them itself.
`parse_tx` works these out once, for both API versions (spacemesh.v1 and v2alpha1 ParseTransaction, EstimateGas and
their descriptions of stored transactions); `signing_keys` and `signature_ok` are the node's signature rule, as the
VM applies it before executing (spec/wallet.md §3.3): a wallet principal gives one signature, a multisig or vesting
principal exactly Required parts, each verifying with the principal's keys.

Strict parsing (what a client asks about) refuses what the node could never execute: a transaction other than a
self-spawn whose principal is not spawned (NotSpawned, which the APIs answer NOT_FOUND "account is not spawned"),
and one whose principal is a vault (VaultPrincipal).  Lenient parsing (stored transactions, which decoded once and
are shown as well as they can be) keeps both: a vault principal's kind is unknown (None), an unspawned principal's
is guessed from the signature block (one signature: a wallet; parts: unknown).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from core.crypto.hashing import hash32
from core.errors import InvalidInput, TxError
from core.tx.gas import AccountKind, max_gas, spawned_kind
from core.tx.signing import verify
from core.tx.templates import Template, WalletSpawnArgs
from core.tx.transaction import Transaction, decode_tx
from core.vm.account import Account, AccountReader


class NotSpawned(InvalidInput):
    """The principal of a transaction that is not a self-spawn has no account yet (the APIs: NOT_FOUND)."""

    def __init__(self, message: str = "account is not spawned") -> None:
        super().__init__(message)


class VaultPrincipal(TxError):
    """A transaction whose principal is a vault: vaults cannot sign, so the node never executes it."""

    def __init__(self, message: str = "a vault can never be a transaction's principal") -> None:
        super().__init__(message)


def signing_keys(tx: Transaction, principal: Account) -> tuple[bytes, ...]:
    """The keys the signature must verify with: those a self-spawn spawns with, else the principal's (none for an
    unspawned account or a vault)."""
    if tx.is_self_spawn:
        args = tx.args
        return (args.public_key,) if isinstance(args, WalletSpawnArgs) else tuple(args.public_keys)
    return principal.public_keys()


def signature_ok(tx: Transaction, kind: AccountKind, keys: Sequence[bytes], genesis_id: bytes) -> bool:
    """The node's rule: one signature for a wallet principal, exactly `kind.required` parts for a multisig or
    vesting one, and the signature block verifies with `keys` for this network."""
    if kind.template == Template.WALLET:
        return tx.signature is not None and verify(tx, genesis_id, keys)
    return tx.parts is not None and len(tx.parts) == kind.required and verify(tx, genesis_id, keys)


@dataclasses.dataclass(frozen=True)
class ParsedTx:
    """A decoded transaction with what its description, gas and signature check depend on."""

    tx: Transaction
    raw: bytes
    id: bytes  # hash of `raw`: the transaction id (of a signed transaction)
    principal: Account  # as the reader had it
    template: Template | None  # a spawn's spawned template, else the principal's (None: not spawned, lenient)
    kind: AccountKind | None  # the principal's; None where it cannot be known (lenient only)
    keys: tuple[bytes, ...]  # what the signature must verify with (see `signing_keys`)

    @property
    def max_gas(self) -> int:
        """MaxGas of the transaction (as it will be once signed, for an unsigned one); 0 when the kind is unknown."""
        return 0 if self.kind is None else max_gas(self.tx, self.kind)

    def signature_ok(self, genesis_id: bytes) -> bool:
        """Whether the VM would accept the signature (see `signature_ok`); never when the kind is unknown."""
        return self.kind is not None and signature_ok(self.tx, self.kind, self.keys, genesis_id)


def parse_tx(raw: bytes, accounts: AccountReader, *, strict: bool = True, signed: bool = True) -> ParsedTx:
    """Decode a transaction (`signed=False`: its unsigned bytes) and read its principal from `accounts`.

    Raises DecodeError for bytes that are no transaction.  Strict: NotSpawned for a transaction other than a
    self-spawn whose principal is not spawned, VaultPrincipal for a vault principal.  Lenient: the kind is None
    for a vault principal and, for an unspawned one, a wallet's when the transaction has one signature, else None.
    """
    tx = decode_tx(raw, signed=signed)
    principal = accounts.account(tx.principal)
    kind: AccountKind | None
    if tx.is_self_spawn:
        kind = spawned_kind(tx)
    elif not principal.spawned:
        if strict:
            raise NotSpawned
        kind = AccountKind.wallet() if tx.signature is not None else None
    elif principal.template_id == Template.VAULT:
        if strict:
            raise VaultPrincipal
        kind = None
    else:
        kind = principal.kind()
    template = tx.template if tx.template is not None else principal.template_id
    return ParsedTx(tx, raw, hash32(raw), principal, template, kind, signing_keys(tx, principal))
