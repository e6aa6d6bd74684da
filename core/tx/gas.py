"""Gas and fees in genvm's fixed-price regime (spec/wallet.md §3.5).

MaxGas = BaseGas(principal template, method) + 128 × ceil(signed size / 8) + FixedGas; the fee
charged up front is MaxGas × gas price.
"""

from __future__ import annotations

import dataclasses
import math

from core.errors import TxError
from core.tx.templates import MultisigSpawnArgs, Template
from core.tx.transaction import PART_SIZE, Method, Transaction
from core.crypto.signing import SIGNATURE_SIZE

TX = 20000
SPAWN = 30000
STORE = 5000
UPDATE = 725
LOAD = 182
ACCOUNT_ACCESS = 2500
EDVERIFY = 3000
TXDATA = 128

PUBLIC_KEY_SIZE = 32
ACCOUNT_HEADER_SIZE = 36
ACCOUNT_BALANCE_SIZE = 8
VAULT_STATE_SIZE = 92
DRAINED_SIZE = 8


def size_gas(gas_per_word: int, size: int) -> int:
    """Gas for `size` bytes, charged per started 8-byte word."""
    return gas_per_word * math.ceil(size / 8)


@dataclasses.dataclass(frozen=True)
class AccountKind:
    """What gas depends on about an account: its template and, for multisig, its key counts."""

    template: Template
    n_keys: int = 1
    required: int = 1

    @classmethod
    def wallet(cls) -> AccountKind:
        return cls(Template.WALLET)

    @classmethod
    def multisig(cls, required: int, n_keys: int, template: Template = Template.MULTISIG) -> AccountKind:
        return cls(template, n_keys, required)

    @property
    def state_size(self) -> int:
        """Bytes of template state: the keys, plus the account header."""
        keys = 1 if self.template == Template.WALLET else self.n_keys
        return PUBLIC_KEY_SIZE * keys + ACCOUNT_HEADER_SIZE

    @property
    def signature_size(self) -> int:
        return SIGNATURE_SIZE if self.template == Template.WALLET else self.required * PART_SIZE

    def base_gas(self, method: Method) -> int:
        if self.template == Template.WALLET:
            return TX + EDVERIFY + (SPAWN if method == Method.SPAWN else 0)
        if self.template.is_multisig:
            return TX + EDVERIFY * self.required + (SPAWN if method == Method.SPAWN else 0)
        raise TxError("a vault can never be a transaction's principal")

    def load_gas(self) -> int:
        return ACCOUNT_ACCESS + size_gas(LOAD, self.state_size)

    def spawn_gas(self) -> int:
        """Execution gas of spawning an account of this kind: storing its state."""
        if self.template == Template.VAULT:
            return 0
        return size_gas(STORE, self.state_size)


SPEND_EXEC_GAS = (
    ACCOUNT_ACCESS
    + size_gas(LOAD, ACCOUNT_BALANCE_SIZE)
    + size_gas(UPDATE, ACCOUNT_HEADER_SIZE)
    + size_gas(UPDATE, ACCOUNT_BALANCE_SIZE)
)
DRAIN_EXEC_GAS = (
    ACCOUNT_ACCESS
    + size_gas(LOAD, VAULT_STATE_SIZE)
    + size_gas(UPDATE, ACCOUNT_HEADER_SIZE)
    + size_gas(UPDATE, ACCOUNT_BALANCE_SIZE + DRAINED_SIZE)
)


def spawned_kind(tx: Transaction) -> AccountKind:
    """The kind of account a spawn transaction creates."""
    assert tx.template is not None
    if isinstance(tx.args, MultisigSpawnArgs):
        return AccountKind(tx.template, len(tx.args.public_keys), tx.args.required)
    return AccountKind(tx.template)


def principal_kind(tx: Transaction, principal: AccountKind | None = None) -> AccountKind:
    """The principal's kind: known for self-spawns, given by the caller, or read off one signature."""
    if tx.is_self_spawn:
        return spawned_kind(tx)
    if principal is not None:
        return principal
    if tx.signature is not None:
        return AccountKind.wallet()
    raise TxError("gas of a multisig principal depends on its key count: give the number of keys")


def max_gas(tx: Transaction, principal: AccountKind | None = None) -> int:
    """MaxGas of a transaction; for an unsigned one, as it will be once signed."""
    kind = principal_kind(tx, principal)
    size = len(tx.raw()) if tx.is_signed else len(tx.unsigned_bytes()) + kind.signature_size
    gas = kind.base_gas(tx.method) + size_gas(TXDATA, size)
    if tx.is_self_spawn:
        return gas + kind.spawn_gas()
    if tx.method == Method.SPAWN:
        return gas + kind.load_gas() + spawned_kind(tx).spawn_gas()
    return gas + kind.load_gas() + (SPEND_EXEC_GAS if tx.method == Method.SPEND else DRAIN_EXEC_GAS)


def fee(tx: Transaction, principal: AccountKind | None = None) -> int:
    """Smidge charged up front: MaxGas × gas price."""
    return max_gas(tx, principal) * tx.gas_price
