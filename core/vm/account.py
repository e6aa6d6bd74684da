"""Account state: what the VM reads and writes (spec/node.md §7.2, spec/wallet.md §3.6).

An account is `{address, balance, next nonce, template?, template state, layer}`.  Template
state is the SCALE encoding of the template's data: the public key of a wallet, the spawn
arguments of a multisig or vesting account, a vault's arguments plus the amount drained.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Protocol

from core.codec import Bytes, Compact, FixedBytes, Option, Struct
from core.tx.gas import AccountKind
from core.tx.templates import (
    MultisigSpawnArgs,
    Template,
    VaultSpawnArgs,
    WalletSpawnArgs,
)
from core.wallet.address import ADDRESS_SIZE

MAX_STATE_SIZE = 1024


class VaultState(Struct):
    """A vault's spawn arguments and how much has been drained so far."""

    owner: Annotated[bytes, FixedBytes(ADDRESS_SIZE)]
    total_amount: Annotated[int, Compact(64)]
    initial_unlock_amount: Annotated[int, Compact(64)]
    vesting_start: Annotated[int, Compact(32)]
    vesting_end: Annotated[int, Compact(32)]
    drained: Annotated[int, Compact(64)]

    def vested(self, layer: int) -> int:
        """Amount vested at `layer`: linear between start and end (SMIP-0002)."""
        if layer < self.vesting_start:
            return 0
        if layer >= self.vesting_end:
            return self.total_amount
        return self.total_amount * (layer - self.vesting_start) // (self.vesting_end - self.vesting_start)


class Account(Struct):
    """One account; its SCALE encoding feeds the per-layer state hash."""

    address: Annotated[bytes, FixedBytes(ADDRESS_SIZE)]
    balance: Annotated[int, Compact(64)]
    next_nonce: Annotated[int, Compact(64)]
    layer: Annotated[int, Compact(32)]
    template: Annotated[bytes | None, Option(FixedBytes(ADDRESS_SIZE))]
    state: Annotated[bytes, Bytes(MAX_STATE_SIZE)]

    @classmethod
    def empty(cls, address: bytes) -> Account:
        return cls(address, 0, 0, 0, None, b"")

    @property
    def spawned(self) -> bool:
        return self.template is not None

    @property
    def template_id(self) -> Template | None:
        return None if self.template is None else Template.from_address(self.template)

    def replace(self, **changes: object) -> Account:
        return dataclasses.replace(self, **changes)

    def public_keys(self) -> tuple[bytes, ...]:
        """The keys that sign for this account (none for a vault or an unspawned account)."""
        kind = self.template_id
        if kind == Template.WALLET:
            return (WalletSpawnArgs.decode(self.state).public_key,)
        if kind is not None and kind.is_multisig:
            return MultisigSpawnArgs.decode(self.state).public_keys
        return ()

    def kind(self) -> AccountKind:
        """What gas depends on about this account as a principal."""
        kind = self.template_id
        if kind is not None and kind.is_multisig:
            args = MultisigSpawnArgs.decode(self.state)
            return AccountKind(kind, len(args.public_keys), args.required)
        return AccountKind(kind or Template.WALLET)

    def vault(self) -> VaultState:
        return VaultState.decode(self.state)


def spawned_state(template: Template, args: Struct) -> bytes:
    """Template state of a freshly spawned account."""
    if template == Template.VAULT:
        assert isinstance(args, VaultSpawnArgs)
        return VaultState(
            args.owner,
            args.total_amount,
            args.initial_unlock_amount,
            args.vesting_start,
            args.vesting_end,
            0,
        ).encode()
    return args.encode()


class AccountReader(Protocol):
    """Where the VM reads accounts from: a SQLite store, or a dict in tests."""

    def account(self, address: bytes) -> Account: ...
