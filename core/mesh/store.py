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
from core.types.ballot import Ballot, Block
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


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, lock: threading.RLock) -> Iterator[sqlite3.Connection]:
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


class MeshStore:
    """`state.sql`: consensus data.  Thread-safe for one writer and many readers."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self.conn = open_database(path, STATE_MIGRATIONS)
        self._lock = threading.RLock()

    def close(self) -> None:
        self.conn.close()

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """All statements inside commit together or not at all."""
        return _transaction(self.conn, self._lock)

    def _write(self, sql: str, params: tuple) -> None:
        with self.transaction() as tx:
            tx.execute(sql, params)

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

    def apply_layer(
        self,
        outcome: LayerOutcome,
        block_id: bytes,
        smesher_of: dict[bytes, bytes] | None = None,
        aggregated_hash: bytes | None = None,
    ) -> None:
        """Record an applied layer: changed accounts, rewards, tx results, the state hash and (when
        given) the aggregated (opinion) hash, all in one transaction."""
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
            # recorded so the API can say why; reverted like the rest.  A transaction executed in an
            # earlier layer keeps that result: a later block that carries it again (a proposal built
            # before the earlier layer was applied) only skips it, its nonce being used
            for skipped in outcome.ineffective:
                tx.execute(
                    "UPDATE transactions SET layer = ?, block = ?, result = ? "
                    "WHERE id = ? AND (result IS NULL OR substr(result, 1, 1) = ?)",
                    (outcome.layer, block_id, _encode_result(TxStatus.INVALID, skipped.reason, 0), skipped.tx_id,
                     bytes([TxStatus.INVALID])),
                )  # fmt: skip
            tx.execute(
                "INSERT INTO layers (id, processed, applied_block, state_hash, aggregated_hash) VALUES (?, 1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET processed = 1, applied_block = excluded.applied_block, "
                "state_hash = excluded.state_hash, aggregated_hash = COALESCE(excluded.aggregated_hash, aggregated_hash)",
                (outcome.layer, block_id, outcome.state_hash, aggregated_hash),
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

    def init_genesis_layer(self, layer: int, block_id: bytes, state_hash: bytes, aggregated_hash: bytes) -> None:
        """The effective genesis layer, applied with genesis state; left alone if already there."""
        self._write(
            "INSERT OR IGNORE INTO layers (id, processed, applied_block, state_hash, aggregated_hash)"
            " VALUES (?, 1, ?, ?, ?)",
            (layer, block_id, state_hash, aggregated_hash),
        )

    def set_aggregated_hash(self, layer: int, aggregated_hash: bytes) -> None:
        """A new aggregated (opinion) hash for an applied layer whose block did not change."""
        self._write("UPDATE layers SET aggregated_hash = ? WHERE id = ?", (aggregated_hash, layer))

    def set_weak_coin(self, layer: int, coin: bool) -> None:
        self._write(
            "INSERT INTO layers (id, weak_coin) VALUES (?, ?)"
            " ON CONFLICT (id) DO UPDATE SET weak_coin = excluded.weak_coin",
            (layer, int(coin)),
        )

    def weak_coin(self, layer: int) -> bool | None:
        row = self.conn.execute("SELECT weak_coin FROM layers WHERE id = ?", (layer,)).fetchone()
        return None if row is None or row[0] is None else bool(row[0])

    def applied_layers(self) -> dict[int, bytes]:
        """Layer -> applied block id, for every applied layer."""
        rows = self.conn.execute("SELECT id, applied_block FROM layers WHERE state_hash IS NOT NULL").fetchall()
        return {layer: block for layer, block in rows}

    def layer_hashes(self, layer: int) -> tuple[bytes | None, bytes | None, bytes | None]:
        """(applied block, state hash, aggregated hash) of a layer."""
        row = self.conn.execute(
            "SELECT applied_block, state_hash, aggregated_hash FROM layers WHERE id = ?", (layer,)
        ).fetchone()
        return (row[0], row[1], row[2]) if row else (None, None, None)

    def last_applied(self) -> int | None:
        row = self.conn.execute("SELECT MAX(id) FROM layers WHERE state_hash IS NOT NULL").fetchone()
        return row[0]

    def layer_state_hash(self, layer: int) -> bytes | None:
        row = self.conn.execute("SELECT state_hash FROM layers WHERE id = ?", (layer,)).fetchone()
        return row[0] if row else None

    # ---------------------------------------------------------------------------------------
    # Ballots, blocks, hare outputs and certificates, beacons

    def add_ballot(self, ballot_id: bytes, ballot: Ballot) -> None:
        self._write(
            "INSERT OR IGNORE INTO ballots (id, atx, layer, pubkey, ballot) VALUES (?, ?, ?, ?, ?)",
            (ballot_id, ballot.inner.atx_id, ballot.layer, ballot.smesher_id, ballot.encode()),
        )

    def ballots(self) -> list[Ballot]:
        """Every stored ballot, by layer and then in arrival order."""
        rows = self.conn.execute("SELECT ballot FROM ballots ORDER BY layer, rowid").fetchall()
        return [Ballot.decode(row[0]) for row in rows]

    def add_block(self, block: Block) -> None:
        self._write(
            "INSERT OR IGNORE INTO blocks (id, layer, validity, block) VALUES (?, ?, NULL, ?)",
            (block.id, block.layer, block.encode()),
        )

    def blocks(self) -> list[Block]:
        """Every stored block, by layer and id."""
        return [Block.decode(r[0]) for r in self.conn.execute("SELECT block FROM blocks ORDER BY layer, id")]

    def add_hare_output(self, layer: int, block_id: bytes, certificate: bytes | None) -> None:
        """A layer's hare output (`certificate` None) or its certificate (encoded); a certificate
        added later for the same block completes the row, a missing one never erases it."""
        self._write(
            "INSERT INTO certificates (layer, block, cert, valid) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (layer, block) DO UPDATE SET cert = COALESCE(excluded.cert, cert)",
            (layer, block_id, certificate),
        )

    def hare_outputs(self) -> list[tuple[int, bytes, bytes | None]]:
        """(layer, block id, encoded certificate or None) rows, by layer and arrival order."""
        rows = self.conn.execute("SELECT layer, block, cert FROM certificates ORDER BY layer, rowid").fetchall()
        return [(layer, block, cert) for layer, block, cert in rows]

    def add_beacon(self, epoch: int, beacon: bytes) -> None:
        """An epoch's beacon; the first one stored stays."""
        self._write("INSERT OR IGNORE INTO beacons (epoch, beacon) VALUES (?, ?)", (epoch, beacon))

    def beacons(self) -> dict[int, bytes]:
        return dict(self.conn.execute("SELECT epoch, beacon FROM beacons").fetchall())

    # ---------------------------------------------------------------------------------------
    # Transactions

    def transaction_blob(self, tx_id: bytes) -> bytes | None:
        """A stored transaction's raw bytes."""
        row = self.conn.execute("SELECT tx FROM transactions WHERE id = ?", (tx_id,)).fetchone()
        return row[0] if row else None

    def add_transaction(self, tx_id: bytes, raw: bytes, principal: bytes, nonce: int, timestamp: int) -> bool:
        """Store a transaction seen for the first time; False if it was already known."""
        with self.transaction() as tx:
            cursor = tx.execute(
                "INSERT OR IGNORE INTO transactions (id, tx, principal, nonce, timestamp) VALUES (?, ?, ?, ?, ?)",
                (tx_id, raw, principal, nonce, timestamp),
            )
            return cursor.rowcount == 1

    def transaction_result(self, tx_id: bytes) -> tuple[int, TxStatus, str, int] | None:
        """(layer, status, message, fee) of a transaction in an applied block, or None; status INVALID
        marks one the VM skipped as ineffective (it paid nothing and its nonce stays unused)."""
        row = self.conn.execute("SELECT layer, result FROM transactions WHERE id = ?", (tx_id,)).fetchone()
        if row is None or row[1] is None:
            return None
        status, fee, message = decode_result(row[1])
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


def u64_to_sql(value: int) -> int:
    """SQLite integers are signed 64-bit: store a u64 as its two's-complement value."""
    return value - (1 << 64) if value >= 1 << 63 else value


def u64_from_sql(value: int) -> int:
    return value & ((1 << 64) - 1)


def _encode_result(status: TxStatus, message: str, fee: int) -> bytes:
    return bytes([status]) + fee.to_bytes(8, "little") + message.encode()


def decode_result(blob: bytes) -> tuple[TxStatus, int, str]:
    return TxStatus(blob[0]), int.from_bytes(blob[1:9], "little"), blob[9:].decode()


class LocalStore:
    """`local.sql`: this node's own activation state and small key/value settings."""

    def __init__(self, path: Path | str) -> None:
        self.conn = open_database(path, LOCAL_MIGRATIONS)
        self._lock = threading.RLock()

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """All statements inside commit together or not at all."""
        return _transaction(self.conn, self._lock)

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
