"""The mempool and its conservative state (spec/wallet.md §3.6–3.7, go-spacemesh `txs/cache.go`).

A transaction is admitted when it decodes, verifies against its principal, has a nonce at or
above the account's next nonce, and the account's balance covers — in nonce order — the fee and
maximum spend of every pending transaction up to and including it.  One transaction per nonce
is kept: a higher fee replaces the pending one, a tie keeps the earlier.  Whatever a change makes
unaffordable later in the nonce order is evicted.  The projection (next nonce and balance after
all pending transactions) is what wallets use to pick their next nonce.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from core.errors import DecodeError, SmeshError
from core.tx.gas import max_gas, principal_kind
from core.tx.templates import Template
from core.tx.transaction import Transaction, decode_tx
from core.txs.parsed import signature_ok, signing_keys
from core.vm.account import Account, AccountReader

MAX_PENDING_PER_ACCOUNT = 100


class MempoolError(SmeshError):
    """Why a transaction was not admitted (the API reports it as InvalidArgument)."""


@dataclasses.dataclass(frozen=True)
class PendingTx:
    tx: Transaction
    raw: bytes
    fee: int  # MaxGas × gas price
    received: float

    @property
    def cost(self) -> int:
        """What the account must hold for this transaction: fee plus maximum spend."""
        return self.fee + self.tx.max_spend

    def better_than(self, other: PendingTx) -> bool:
        return self.fee > other.fee or (self.fee == other.fee and self.received < other.received)


@dataclasses.dataclass(frozen=True)
class Projection:
    next_nonce: int
    balance: int


class Mempool:
    def __init__(self, genesis_id: bytes, state: AccountReader, max_per_account: int = MAX_PENDING_PER_ACCOUNT) -> None:
        self.genesis_id = genesis_id
        self.state = state
        self.max_per_account = max_per_account
        self._by_account: dict[bytes, dict[int, PendingTx]] = {}
        self._by_id: dict[bytes, PendingTx] = {}

    def __contains__(self, tx_id: bytes) -> bool:
        return tx_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, tx_id: bytes) -> PendingTx | None:
        return self._by_id.get(tx_id)

    # ---------------------------------------------------------------------------------------
    def add(self, raw: bytes, received: float) -> PendingTx:
        """Admit a transaction or raise `MempoolError` with the reason."""
        try:
            tx = decode_tx(raw)
        except DecodeError as e:
            raise MempoolError(f"malformed transaction: {e}") from None
        if tx.id in self._by_id:
            raise MempoolError("tx already exists")
        account = self.state.account(tx.principal)
        if not tx.is_self_spawn and not account.spawned:
            raise MempoolError("principal account is not spawned")
        if account.template_id == Template.VAULT:
            raise MempoolError("a vault cannot be a principal")
        if tx.gas_price == 0:
            raise MempoolError("gas price must not be zero")
        kind = principal_kind(tx, None if tx.is_self_spawn else account.kind())
        if not signature_ok(tx, kind, signing_keys(tx, account), self.genesis_id):  # the VM's rule, exactly
            raise MempoolError("failed to verify transaction signature")
        if tx.nonce < account.next_nonce:
            raise MempoolError(f"bad nonce: {tx.nonce} is below the account's next nonce {account.next_nonce}")
        entry = PendingTx(tx, raw, max_gas(tx, kind) * tx.gas_price, received)
        pending = dict(self._by_account.get(tx.principal, {}))
        current = pending.get(tx.nonce)
        if current is not None and not entry.better_than(current):
            raise MempoolError(f"a transaction with nonce {tx.nonce} and an equal or higher fee is pending")
        if current is None and len(pending) >= self.max_per_account:
            raise MempoolError(f"too many pending transactions for this account (max {self.max_per_account})")
        pending[tx.nonce] = entry
        kept, _ = self._affordable(account, pending)
        if tx.nonce not in kept or kept[tx.nonce] is not entry:
            raise MempoolError("insufficient balance for this and the pending transactions before it")
        self._replace_account(tx.principal, kept)
        return entry

    @staticmethod
    def _affordable(account: Account, pending: dict[int, PendingTx]) -> tuple[dict[int, PendingTx], Projection]:
        """Pending transactions in nonce order while the balance covers them; the rest are dropped."""
        balance, next_nonce = account.balance, account.next_nonce
        kept: dict[int, PendingTx] = {}
        for nonce in sorted(pending):
            entry = pending[nonce]
            if nonce < account.next_nonce or entry.cost > balance:
                if nonce >= account.next_nonce:
                    break  # everything after an unaffordable transaction waits on it
                continue
            balance -= entry.cost
            next_nonce = nonce + 1
            kept[nonce] = entry
        return kept, Projection(next_nonce, balance)

    def _replace_account(self, principal: bytes, kept: dict[int, PendingTx]) -> None:
        for old in self._by_account.get(principal, {}).values():
            self._by_id.pop(old.tx.id, None)
        if kept:
            self._by_account[principal] = kept
            for entry in kept.values():
                self._by_id[entry.tx.id] = entry
        else:
            self._by_account.pop(principal, None)

    # ---------------------------------------------------------------------------------------
    def projection(self, address: bytes) -> Projection:
        """Next nonce and balance once every pending transaction of the account is applied."""
        account = self.state.account(address)
        return self._affordable(account, self._by_account.get(address, {}))[1]

    def pending(self, address: bytes) -> list[PendingTx]:
        return [self._by_account[address][n] for n in sorted(self._by_account.get(address, {}))]

    def select(self, max_count: int, gas_limit: int) -> list[PendingTx]:
        """Transactions for a proposal: each account's in nonce order, higher fees first overall."""
        queues = {a: self.pending(a) for a in self._by_account}
        chosen: list[PendingTx] = []
        gas = 0
        while len(chosen) < max_count:
            heads = [q[0] for q in queues.values() if q]
            if not heads:
                break
            best = max(heads, key=lambda e: (e.tx.gas_price, -e.received, e.tx.id))
            queues[best.tx.principal].pop(0)
            cost = best.fee // best.tx.gas_price
            if gas + cost > gas_limit:
                queues[best.tx.principal].clear()  # later nonces cannot go without this one
                continue
            gas += cost
            chosen.append(best)
        return chosen

    def on_layer_applied(self, applied_ids: Iterable[bytes] = ()) -> None:
        """Drop what was applied and re-check every account against the new state."""
        for tx_id in applied_ids:
            self._by_id.pop(tx_id, None)
        for principal in list(self._by_account):
            still = {n: e for n, e in self._by_account[principal].items() if e.tx.id in self._by_id}
            kept, _ = self._affordable(self.state.account(principal), still)
            self._replace_account(principal, kept)
