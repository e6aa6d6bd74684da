"""Account templates, their spawn arguments and principals (spec/wallet.md §2.2)."""

from __future__ import annotations

import enum
from typing import Annotated

from core.codec import Compact, FixedBytes, Slice, Struct
from core.crypto.hashing import hash32
from core.errors import TxError
from core.wallet.address import ADDRESS_SIZE, RESERVED_SIZE

PUBLIC_KEY_SIZE = 32
MAX_MULTISIG_KEYS = 10


class Template(enum.IntEnum):
    WALLET = 1
    MULTISIG = 2
    VESTING = 3
    VAULT = 4

    @property
    def address(self) -> bytes:
        """Template addresses are 23 zero bytes and the template number."""
        return bytes(ADDRESS_SIZE - 1) + bytes([self])

    @classmethod
    def from_address(cls, address: bytes) -> Template:
        if len(address) == ADDRESS_SIZE and address[:-1] == bytes(ADDRESS_SIZE - 1):
            try:
                return cls(address[-1])
            except ValueError:
                pass
        raise TxError(f"unknown template address {address.hex()}")

    @property
    def is_multisig(self) -> bool:
        """Multisig and vesting share the multisig signature scheme and spawn arguments."""
        return self in (Template.MULTISIG, Template.VESTING)


class WalletSpawnArgs(Struct):
    public_key: Annotated[bytes, FixedBytes(PUBLIC_KEY_SIZE)]


class MultisigSpawnArgs(Struct):
    """Spawn arguments of multisig and vesting accounts; key order is part of the principal."""

    required: Annotated[int, Compact(8)]
    public_keys: Annotated[tuple[bytes, ...], Slice(FixedBytes(PUBLIC_KEY_SIZE), MAX_MULTISIG_KEYS)]


class VaultSpawnArgs(Struct):
    owner: Annotated[bytes, FixedBytes(ADDRESS_SIZE)]
    total_amount: Annotated[int, Compact(64)]
    initial_unlock_amount: Annotated[int, Compact(64)]
    vesting_start: Annotated[int, Compact(32)]
    vesting_end: Annotated[int, Compact(32)]


SpawnArgs = WalletSpawnArgs | MultisigSpawnArgs | VaultSpawnArgs

SPAWN_ARGS: dict[Template, type[Struct]] = {
    Template.WALLET: WalletSpawnArgs,
    Template.MULTISIG: MultisigSpawnArgs,
    Template.VESTING: MultisigSpawnArgs,
    Template.VAULT: VaultSpawnArgs,
}


def compute_principal(template: Template, args: SpawnArgs) -> bytes:
    """The address an account of `template` spawned with `args` lives at."""
    digest = hash32(template.address, args.encode())
    return bytes(RESERVED_SIZE) + digest[12:]


def wallet_principal(public_key: bytes) -> bytes:
    return compute_principal(Template.WALLET, WalletSpawnArgs(public_key))


def multisig_args(required: int, public_keys: tuple[bytes, ...] | list[bytes]) -> MultisigSpawnArgs:
    """Validated multisig/vesting spawn arguments (1 ≤ required ≤ keys ≤ 10)."""
    keys = tuple(public_keys)
    if not 1 <= len(keys) <= MAX_MULTISIG_KEYS:
        raise TxError(f"a multisig account has 1 to {MAX_MULTISIG_KEYS} keys, got {len(keys)}")
    if not 1 <= required <= len(keys):
        raise TxError(f"required signatures must be between 1 and {len(keys)}, got {required}")
    for key in keys:
        if len(key) != PUBLIC_KEY_SIZE:
            raise TxError(f"public keys are {PUBLIC_KEY_SIZE} bytes, got {len(key)}")
    return MultisigSpawnArgs(required, keys)


def vault_args(owner: bytes, total: int, initial: int, start: int, end: int) -> VaultSpawnArgs:
    """Validated vault spawn arguments (initial ≤ total, start ≤ end)."""
    if initial > total:
        raise TxError("the initial unlock amount exceeds the vault's total")
    if end < start:
        raise TxError("vesting end layer is before vesting start")
    return VaultSpawnArgs(owner, total, initial, start, end)
