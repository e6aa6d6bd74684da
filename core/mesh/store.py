"""The mesh store: SQLite in WAL mode, one writer, every multi-row change in one transaction.

Accounts are versioned by the layer that changed them, so reading state "as of layer L" is a
lookup and reverting applied layers (when the tortoise changes its mind) is a delete.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from core.errors import SmeshError
from core.mesh.schema import LOCAL_MIGRATIONS, STATE_MIGRATIONS
from core.vm.account import Account
from core.vm.vm import LayerOutcome, TxStatus


class StoreError(SmeshError):
    """A database that cannot be opened or migrated."""


def open_database(path: Path | str, migrations: Sequence[str]) -> sqlite3.Connection:
    """Open (creating if needed) a SQLite database in WAL mode and bring its schema up to date."""
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as e:
        raise StoreError(f"cannot open database {path}: {e}") from None
    if version > len(migrations):
        conn.close()
        raise StoreError(f"database {path} has schema version {version}, newer than this smesh ({len(migrations)})")
    for number, script in enumerate(migrations[version:], start=version + 1):
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            conn.execute("ROLLBACK")
            conn.close()
            raise StoreError(f"migration {number} of {path} failed: {e}") from None
    return conn


class MeshStore:
    """`state.sql`: consensus data.  Thread-safe for one writer and many readers."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self.conn = open_database(path, STATE_MIGRATIONS)
        self._lock = threading.RLock()

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All statements inside commit together or not at all."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    # ---------------------------------------------------------------------------------------
    # Accounts

    def account(self, address: bytes, at_layer: int | None = None) -> Account:
        """The account as of `at_layer` (default: the latest applied state)."""
        query = "SELECT balance, next_nonce, layer_updated, template, state FROM accounts WHERE address = ?"
        params: tuple = (address,)
        if at_layer is not None:
            query += " AND layer_updated <= ?"
            params += (at_layer,)
        row = self.conn.execute(query + " ORDER BY layer_updated DESC LIMIT 1", params).fetchone()
        if row is None:
            return Account.empty(address)
        balance, nonce, layer, template, state = row
        return Account(address, int(balance), int(nonce), layer, template, state)

    def view(self, at_layer: int | None = None) -> StateView:
        """An `AccountReader` over the state as of a layer, for the VM."""
        return StateView(self, at_layer)

    def put_genesis_accounts(self, balances: dict[bytes, int]) -> None:
        """Fund genesis accounts once, at layer 0; a store that already has accounts is left alone."""
        with self.transaction() as tx:
            if tx.execute("SELECT 1 FROM accounts LIMIT 1").fetchone():
                return
            tx.executemany(
                "INSERT INTO accounts (address, balance, next_nonce, layer_updated, template, state) "
                "VALUES (?, ?, 0, 0, NULL, x'')",
                [(address, balance) for address, balance in sorted(balances.items())],
            )

    # ---------------------------------------------------------------------------------------
    # Layers

    def apply_layer(self, outcome: LayerOutcome, block_id: bytes, smesher_of: dict[bytes, bytes] | None = None) -> None:
        """Record an applied layer: changed accounts, rewards, tx results and the state hash."""
        smesher_of = smesher_of or {}
        with self.transaction() as tx:
            tx.executemany(
                "INSERT OR REPLACE INTO accounts (address, balance, next_nonce, layer_updated, template, state) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(a.address, a.balance, a.next_nonce, outcome.layer, a.template, a.state) for a in outcome.accounts],
            )
            tx.executemany(
                "INSERT OR REPLACE INTO rewards (pubkey, coinbase, layer, total_reward, layer_reward) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (smesher_of.get(r.atx_id, r.atx_id), r.coinbase, outcome.layer, r.total, r.layer_reward)
                    for r in outcome.rewards
                ],
            )
            for result in outcome.results:
                tx.execute(
                    "UPDATE transactions SET layer = ?, block = ?, result = ? WHERE id = ?",
                    (outcome.layer, block_id, _encode_result(result.status, result.message, result.fee), result.tx_id),
                )
                tx.executemany(
                    "INSERT OR IGNORE INTO transactions_results_addresses (address, tid) VALUES (?, ?)",
                    [(address, result.tx_id) for address in result.touched],
                )
            tx.execute(
                "INSERT INTO layers (id, processed, applied_block, state_hash) VALUES (?, 1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET processed = 1, applied_block = excluded.applied_block, "
                "state_hash = excluded.state_hash",
                (outcome.layer, block_id, outcome.state_hash),
            )

    def revert_to(self, layer: int) -> None:
        """Undo every applied layer after `layer`: accounts, rewards and tx results go back."""
        with self.transaction() as tx:
            tx.execute("DELETE FROM accounts WHERE layer_updated > ?", (layer,))
            tx.execute("DELETE FROM rewards WHERE layer > ?", (layer,))
            tx.execute(
                "DELETE FROM transactions_results_addresses WHERE tid IN (SELECT id FROM transactions WHERE layer > ?)",
                (layer,),
            )
            tx.execute("UPDATE transactions SET layer = NULL, block = NULL, result = NULL WHERE layer > ?", (layer,))
            tx.execute("UPDATE layers SET applied_block = NULL, state_hash = NULL WHERE id > ?", (layer,))

    def last_applied(self) -> int | None:
        row = self.conn.execute("SELECT MAX(id) FROM layers WHERE state_hash IS NOT NULL").fetchone()
        return row[0]

    def layer_state_hash(self, layer: int) -> bytes | None:
        row = self.conn.execute("SELECT state_hash FROM layers WHERE id = ?", (layer,)).fetchone()
        return row[0] if row else None

    # ---------------------------------------------------------------------------------------
    # Transactions

    def add_transaction(self, tx_id: bytes, raw: bytes, principal: bytes, nonce: int, timestamp: int) -> bool:
        """Store a transaction seen for the first time; False if it was already known."""
        with self.transaction() as tx:
            cursor = tx.execute(
                "INSERT OR IGNORE INTO transactions (id, tx, principal, nonce, timestamp) VALUES (?, ?, ?, ?, ?)",
                (tx_id, raw, principal, nonce, timestamp),
            )
            return cursor.rowcount == 1

    def transaction_result(self, tx_id: bytes) -> tuple[int, TxStatus, str, int] | None:
        """(layer, status, message, fee) of an applied transaction, or None."""
        row = self.conn.execute("SELECT layer, result FROM transactions WHERE id = ?", (tx_id,)).fetchone()
        if row is None or row[1] is None:
            return None
        status, fee, message = _decode_result(row[1])
        return row[0], status, message, fee

    def rewards_of(self, coinbase: bytes) -> list[tuple[int, int, int]]:
        """(layer, total, layer reward) rows credited to a coinbase, oldest first."""
        rows = self.conn.execute(
            "SELECT layer, total_reward, layer_reward FROM rewards WHERE coinbase = ? ORDER BY layer", (coinbase,)
        ).fetchall()
        return [tuple(r) for r in rows]


class StateView:
    """Accounts as of a layer: what the VM reads while executing the next one."""

    def __init__(self, store: MeshStore, at_layer: int | None) -> None:
        self.store, self.at_layer = store, at_layer

    def account(self, address: bytes) -> Account:
        return self.store.account(address, self.at_layer)


def _encode_result(status: TxStatus, message: str, fee: int) -> bytes:
    return bytes([status]) + fee.to_bytes(8, "little") + message.encode()


def _decode_result(blob: bytes) -> tuple[TxStatus, int, str]:
    return TxStatus(blob[0]), int.from_bytes(blob[1:9], "little"), blob[9:].decode()


class LocalStore:
    """`local.sql`: this node's own activation state and small key/value settings."""

    def __init__(self, path: Path | str) -> None:
        self.conn = open_database(path, LOCAL_MIGRATIONS)

    def close(self) -> None:
        self.conn.close()

    def get(self, key: str) -> bytes | None:
        row = self.conn.execute("SELECT value FROM node_state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: bytes) -> None:
        self.conn.execute(
            "INSERT INTO node_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
