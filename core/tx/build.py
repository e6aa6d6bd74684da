"""Building the transactions a user can send (spec/wallet.md §3.2)."""

from __future__ import annotations

from core.errors import TxError
from core.tx.templates import (
    MultisigSpawnArgs,
    Template,
    VaultSpawnArgs,
    WalletSpawnArgs,
    compute_principal,
)
from core.tx.transaction import DrainArgs, Method, SpendArgs, Transaction
from core.wallet.address import ADDRESS_SIZE


def _check_fees(nonce: int, gas_price: int) -> None:
    if nonce < 0 or nonce >> 64:
        raise TxError(f"nonce must be a 64-bit unsigned integer, got {nonce}")
    if not 0 < gas_price < 1 << 64:
        raise TxError(f"gas price must be at least 1 smidge per gas unit, got {gas_price}")


def _check_address(address: bytes, what: str) -> None:
    if len(address) != ADDRESS_SIZE:
        raise TxError(f"{what} must be a {ADDRESS_SIZE}-byte address, got {len(address)} bytes")


def _check_amount(amount: int) -> None:
    if not 0 <= amount < 1 << 64:
        raise TxError(f"amount must fit in 64 bits, got {amount}")


def wallet_spawn(public_key: bytes, nonce: int = 0, gas_price: int = 1) -> Transaction:
    """The self-spawn of a single-sig wallet."""
    _check_fees(nonce, gas_price)
    args = WalletSpawnArgs(public_key)
    return Transaction(compute_principal(Template.WALLET, args), Method.SPAWN, Template.WALLET, nonce, gas_price, args)


def multisig_spawn(
    args: MultisigSpawnArgs,
    nonce: int = 0,
    gas_price: int = 1,
    template: Template = Template.MULTISIG,
    principal: bytes | None = None,
) -> Transaction:
    """Spawn a multisig or vesting account: by itself, or paid for by another `principal`."""
    if not template.is_multisig:
        raise TxError("multisig spawn needs the multisig or vesting template")
    _check_fees(nonce, gas_price)
    if principal is not None:
        _check_address(principal, "principal")
    own = compute_principal(template, args)
    return Transaction(principal or own, Method.SPAWN, template, nonce, gas_price, args)


def vault_spawn(principal: bytes, args: VaultSpawnArgs, nonce: int, gas_price: int = 1) -> Transaction:
    """Spawn a vault; it is paid for by `principal` (usually its owner), never by the vault."""
    _check_fees(nonce, gas_price)
    _check_address(principal, "principal")
    _check_address(args.owner, "vault owner")
    _check_amount(args.total_amount)
    return Transaction(principal, Method.SPAWN, Template.VAULT, nonce, gas_price, args)


def spend(principal: bytes, destination: bytes, amount: int, nonce: int, gas_price: int = 1) -> Transaction:
    _check_fees(nonce, gas_price)
    _check_address(principal, "principal")
    _check_address(destination, "destination")
    _check_amount(amount)
    return Transaction(principal, Method.SPEND, None, nonce, gas_price, SpendArgs(destination, amount))


def drain(
    principal: bytes, vault: bytes, destination: bytes, amount: int, nonce: int, gas_price: int = 1
) -> Transaction:
    """A vesting account moving vested funds out of the vault it owns."""
    _check_fees(nonce, gas_price)
    for address, what in ((principal, "principal"), (vault, "vault"), (destination, "destination")):
        _check_address(address, what)
    _check_amount(amount)
    return Transaction(principal, Method.DRAIN, None, nonce, gas_price, DrainArgs(vault, destination, amount))
