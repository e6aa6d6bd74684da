"""Applying a layer's block: transactions in order, then rewards (spec/wallet.md §3.5–3.7, node.md §7).

Per transaction the VM decides, in this order, whether it is *ineffective* (skipped: its nonce is
not consumed and it pays nothing): unparsable, principal not spawned, gas price 0, balance below
the intrinsic gas, block gas exhausted, bad signature, nonce below the account's next nonce.
Otherwise the fee (MaxGas × gas price) is charged up front and the method runs; a method that
fails (insufficient balance, vault rules, already spawned) still pays and bumps the nonce.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Sequence

from core.crypto.hashing import hash32
from core.errors import DecodeError
from core.tx.gas import TXDATA, AccountKind, max_gas, principal_kind, size_gas
from core.tx.templates import Template, compute_principal
from core.tx.transaction import DrainArgs, Method, SpendArgs, Transaction, decode_tx
from core.txs.parsed import signature_ok, signing_keys
from core.vm.account import Account, AccountReader, spawned_state
from core.vm.rewards import Reward, RewardShare, layer_subsidy, split_rewards

UNLIMITED_GAS = 2**64 - 1


class TxStatus(enum.IntEnum):
    """Result statuses as the v2alpha1 API reports them."""

    SUCCESS = 1
    FAILURE = 2
    INVALID = 3  # ineffective: carried by the applied block but skipped by the VM (no fee, no nonce)


@dataclasses.dataclass(frozen=True)
class TxResult:
    """An executed transaction: it paid `fee` and consumed its nonce, whatever its status."""

    tx_id: bytes
    principal: bytes
    status: TxStatus
    message: str
    gas: int
    fee: int
    touched: tuple[bytes, ...]


@dataclasses.dataclass(frozen=True)
class Ineffective:
    """A transaction the block carried but the VM skipped, with why."""

    tx_id: bytes
    reason: str


@dataclasses.dataclass(frozen=True)
class LayerOutcome:
    layer: int
    results: tuple[TxResult, ...]
    ineffective: tuple[Ineffective, ...]
    rewards: tuple[Reward, ...]
    fees: int
    gas: int
    accounts: tuple[Account, ...]  # every account changed in the layer, sorted by address
    state_hash: bytes


class _Overlay:
    """Accounts read from the store and changed in this layer, before they are committed."""

    def __init__(self, reader: AccountReader) -> None:
        self.reader = reader
        self.changed: dict[bytes, Account] = {}

    def get(self, address: bytes) -> Account:
        return self.changed.get(address) or self.reader.account(address)

    def put(self, account: Account) -> None:
        self.changed[account.address] = account


class _Failure(Exception):
    """A method that ran and failed: the fee stays paid, the state change is dropped."""


@dataclasses.dataclass(frozen=True)
class VM:
    genesis_id: bytes
    effective_genesis: int
    block_gas_limit: int = UNLIMITED_GAS

    def apply(
        self, reader: AccountReader, layer: int, txs: Sequence[bytes], shares: Iterable[RewardShare] = ()
    ) -> LayerOutcome:
        """Execute a block's transactions and rewards over `reader`; nothing is written to it."""
        state = _Overlay(reader)
        results: list[TxResult] = []
        skipped: list[Ineffective] = []
        gas_used = fees = 0
        for raw in txs:
            outcome = self._apply_tx(state, layer, raw, gas_used)
            if isinstance(outcome, Ineffective):
                skipped.append(outcome)
            else:
                results.append(outcome)
                gas_used += outcome.gas
                fees += outcome.fee
        rewards = split_rewards(list(shares), layer_subsidy(layer, self.effective_genesis), fees)
        for reward in rewards:
            account = state.get(reward.coinbase)
            state.put(account.replace(balance=account.balance + reward.total))
        changed = tuple(
            state.changed[address].replace(layer=layer) for address in sorted(state.changed)
        )
        return LayerOutcome(
            layer,
            tuple(results),
            tuple(skipped),
            tuple(rewards),
            fees,
            gas_used,
            changed,
            state_hash(changed),
        )

    # ----------------------------------------------------------------------------------------
    def _apply_tx(self, state: _Overlay, layer: int, raw: bytes, gas_used: int) -> TxResult | Ineffective:
        tx_id = hash32(raw)
        try:
            tx = decode_tx(raw)
        except DecodeError as e:
            return Ineffective(tx_id, f"malformed: {e}")
        principal = state.get(tx.principal)
        if not tx.is_self_spawn and not principal.spawned:
            return Ineffective(tx_id, "principal account is not spawned")
        if principal.template_id == Template.VAULT:
            return Ineffective(tx_id, "a vault cannot be a principal")
        if tx.gas_price == 0:
            return Ineffective(tx_id, "zero gas price")
        kind = principal_kind(tx, None if tx.is_self_spawn else principal.kind())
        gas = max_gas(tx, kind)
        intrinsic = kind.base_gas(tx.method) + size_gas(TXDATA, len(raw))
        if principal.balance < intrinsic * tx.gas_price:
            return Ineffective(tx_id, "insufficient balance for intrinsic gas")
        if gas_used + gas > self.block_gas_limit:
            return Ineffective(tx_id, "block gas limit exhausted")
        if not self._verified(tx, kind, principal):
            return Ineffective(tx_id, "signature does not verify")
        if tx.nonce < principal.next_nonce:
            return Ineffective(tx_id, f"nonce {tx.nonce} is below the account's next nonce {principal.next_nonce}")

        fee = gas * tx.gas_price
        paid = min(fee, principal.balance)
        principal = principal.replace(balance=principal.balance - paid, next_nonce=tx.nonce + 1)
        state.put(principal)
        touched = _touched(tx)
        if paid < fee:
            return TxResult(tx_id, tx.principal, TxStatus.FAILURE, "insufficient balance for fee", gas, paid, touched)
        try:
            self._execute(state, layer, tx)
        except _Failure as e:
            return TxResult(tx_id, tx.principal, TxStatus.FAILURE, str(e), gas, fee, touched)
        return TxResult(tx_id, tx.principal, TxStatus.SUCCESS, "", gas, fee, touched)

    def _verified(self, tx: Transaction, kind: AccountKind, principal: Account) -> bool:
        return signature_ok(tx, kind, signing_keys(tx, principal), self.genesis_id)

    def _execute(self, state: _Overlay, layer: int, tx: Transaction) -> None:
        """Run the method; raise `_Failure` before changing anything if it cannot complete."""
        if tx.method == Method.SPAWN:
            assert tx.template is not None
            target = state.get(compute_principal(tx.template, tx.args))
            if target.spawned:
                raise _Failure("account already spawned")
            state.put(target.replace(template=tx.template.address, state=spawned_state(tx.template, tx.args)))
        elif tx.method == Method.SPEND:
            assert isinstance(tx.args, SpendArgs)
            _transfer(state, tx.principal, tx.args.destination, tx.args.amount)
        else:
            assert isinstance(tx.args, DrainArgs)
            self._drain(state, layer, tx.principal, tx.args)

    @staticmethod
    def _drain(state: _Overlay, layer: int, owner: bytes, args: DrainArgs) -> None:
        vault = state.get(args.vault)
        if vault.template_id != Template.VAULT:
            raise _Failure("drain target is not a vault")
        vs = vault.vault()
        if vs.owner != owner:
            raise _Failure("only the vault's owner can drain it")
        spendable = vault.balance - (vs.total_amount - vs.vested(layer))
        if args.amount > spendable:
            raise _Failure(f"vault has {max(spendable, 0)} smidge spendable, drain asks {args.amount}")
        _transfer(state, args.vault, args.destination, args.amount)
        vault = state.get(args.vault)
        drained = dataclasses.replace(vs, drained=vs.drained + args.amount)
        state.put(vault.replace(state=drained.encode()))


def _transfer(state: _Overlay, source: bytes, destination: bytes, amount: int) -> None:
    sender = state.get(source)
    if amount > sender.balance:
        raise _Failure(f"insufficient balance: {sender.balance} smidge, spend asks {amount}")
    if source == destination:
        return
    state.put(sender.replace(balance=sender.balance - amount))
    receiver = state.get(destination)
    state.put(receiver.replace(balance=receiver.balance + amount))


def _touched(tx: Transaction) -> tuple[bytes, ...]:
    addresses = [tx.principal]
    if isinstance(tx.args, SpendArgs):
        addresses.append(tx.args.destination)
    elif isinstance(tx.args, DrainArgs):
        addresses += [tx.args.vault, tx.args.destination]
    elif tx.template is not None and not tx.is_self_spawn:
        addresses.append(compute_principal(tx.template, tx.args))
    return tuple(dict.fromkeys(addresses))


def state_hash(accounts: Sequence[Account]) -> bytes:
    """BLAKE3 over the encodings of the accounts a layer changed, in address order."""
    return hash32(*(a.encode() for a in sorted(accounts, key=lambda a: a.address)))


class MemoryAccounts:
    """An in-memory account store: genesis balances plus committed layers (tests, simulations)."""

    def __init__(self, balances: dict[bytes, int] | None = None) -> None:
        self.accounts: dict[bytes, Account] = {
            address: Account.empty(address).replace(balance=amount) for address, amount in (balances or {}).items()
        }

    def account(self, address: bytes) -> Account:
        return self.accounts.get(address) or Account.empty(address)

    def commit(self, outcome: LayerOutcome) -> None:
        for account in outcome.accounts:
            self.accounts[account.address] = account
