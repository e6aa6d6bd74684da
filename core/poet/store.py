"""Persistent PoET state: registrations, closed rounds and published proofs (spec/poet.md §2.6).

One SQLite file, `<datadir>/poet.sqlite`, in WAL mode with full sync: a registration is
acknowledged only after it is on disk, so it survives a crash.  The service is the only writer
and calls this from one thread; `smesh poet status` may read it at the same time.

Members are keyed by (round, node id): the primary key makes "one registration per node id per
round" a database rule, and SQLite orders BLOB keys bytewise, which is exactly the member order
of the statement (leveldb iteration order in the Go poet).
"""

from __future__ import annotations

import dataclasses
import enum
import sqlite3
from pathlib import Path

from core.errors import SmeshError

DB_NAME = "poet.sqlite"

_MIGRATIONS: tuple[str, ...] = (
    # version 1
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE members (
        round INTEGER NOT NULL,
        node_id BLOB NOT NULL,
        challenge BLOB NOT NULL,
        PRIMARY KEY (round, node_id)
    ) WITHOUT ROWID;
    CREATE TABLE rounds (
        round INTEGER PRIMARY KEY,
        statement BLOB NOT NULL,
        members INTEGER NOT NULL,
        closed_at REAL NOT NULL,
        state TEXT NOT NULL
    );
    CREATE TABLE proofs (
        round INTEGER PRIMARY KEY,
        proof BLOB NOT NULL,
        leaves INTEGER NOT NULL,
        statement BLOB NOT NULL,
        pubkey BLOB NOT NULL,
        published_at REAL NOT NULL
    );
    """,
)


class StoreError(SmeshError):
    """The PoET database cannot be opened or is from a newer smesh."""


class AddResult(enum.Enum):
    ADDED = "added"
    DUPLICATE = "duplicate"  # the same challenge again: accepted, nothing written
    CONFLICT = "conflict"  # another challenge from this node id: rejected
    FULL = "full"  # the round reached max-round-members


class RoundState(enum.Enum):
    CLOSED = "closed"  # statement fixed, waiting for the worker
    EXECUTING = "executing"  # the worker has started on it (its directory may hold a checkpoint)
    DONE = "done"  # proof published
    SKIPPED = "skipped"  # its end passed before the worker could start it


@dataclasses.dataclass(frozen=True)
class ClosedRound:
    round: int
    statement: bytes
    members: int
    closed_at: float
    state: RoundState


@dataclasses.dataclass(frozen=True)
class StoredProof:
    round: int
    proof: bytes  # SCALE(PoetProof): the PoSW Merkle proof and the leaf count
    leaves: int
    statement: bytes
    pubkey: bytes
    published_at: float


class Store:
    """The service's database; not thread-safe: use it from one thread at a time."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        try:
            if readonly:
                if not self.path.is_file():
                    raise StoreError(f"no PoET database at {self.path}")
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            else:
                self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            if not readonly:
                self._migrate()
            elif self._version() > len(_MIGRATIONS):
                raise StoreError(f"{self.path} was written by a newer smesh (schema {self._version()})")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open PoET database {self.path}: {e}") from None

    @classmethod
    def in_datadir(cls, datadir: Path, *, readonly: bool = False) -> Store:
        return cls(Path(datadir) / DB_NAME, readonly=readonly)

    def close(self) -> None:
        self._db.close()

    def _version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self._version()
        if version > len(_MIGRATIONS):
            raise StoreError(f"{self.path} was written by a newer smesh (schema {version})")
        for number in range(version, len(_MIGRATIONS)):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number + 1}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # -- metadata --------------------------------------------------------------------------

    def get_meta(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_meta(self, key: str, value: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, bytes(value)))

    # -- registrations ---------------------------------------------------------------------

    def add_member(self, round_id: int, node_id: bytes, challenge: bytes, max_members: int) -> AddResult:
        """Register `challenge` for `node_id` in `round_id`, in one transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute(
                "SELECT challenge FROM members WHERE round=? AND node_id=?", (round_id, bytes(node_id))
            ).fetchone()
            if row is not None:
                result = AddResult.DUPLICATE if bytes(row[0]) == bytes(challenge) else AddResult.CONFLICT
            elif self.member_count(round_id) >= max_members:
                result = AddResult.FULL
            else:
                self._db.execute(
                    "INSERT INTO members (round, node_id, challenge) VALUES (?, ?, ?)",
                    (round_id, bytes(node_id), bytes(challenge)),
                )
                result = AddResult.ADDED
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return result

    def member_count(self, round_id: int) -> int:
        return self._db.execute("SELECT COUNT(*) FROM members WHERE round=?", (round_id,)).fetchone()[0]

    def members(self, round_id: int) -> list[bytes]:
        """The round's challenges in node-id order: the leaves of its membership tree."""
        rows = self._db.execute("SELECT challenge FROM members WHERE round=? ORDER BY node_id", (round_id,))
        return [bytes(r[0]) for r in rows]

    def registration(self, round_id: int, node_id: bytes) -> bytes | None:
        row = self._db.execute(
            "SELECT challenge FROM members WHERE round=? AND node_id=?", (round_id, bytes(node_id))
        ).fetchone()
        return None if row is None else bytes(row[0])

    def rounds_with_members(self) -> list[tuple[int, int]]:
        rows = self._db.execute("SELECT round, COUNT(*) FROM members GROUP BY round ORDER BY round")
        return [(r[0], r[1]) for r in rows]

    # -- rounds ----------------------------------------------------------------------------

    def close_round(self, round_id: int, statement: bytes, members: int, closed_at: float, state: RoundState) -> None:
        self._db.execute(
            "INSERT INTO rounds (round, statement, members, closed_at, state) VALUES (?, ?, ?, ?, ?)",
            (round_id, bytes(statement), members, closed_at, state.value),
        )

    def set_round_state(self, round_id: int, state: RoundState) -> None:
        self._db.execute("UPDATE rounds SET state=? WHERE round=?", (state.value, round_id))

    def closed_round(self, round_id: int) -> ClosedRound | None:
        row = self._db.execute(
            "SELECT round, statement, members, closed_at, state FROM rounds WHERE round=?", (round_id,)
        ).fetchone()
        return None if row is None else _closed(row)

    def closed_rounds(self, states: tuple[RoundState, ...] | None = None) -> list[ClosedRound]:
        rows = self._db.execute("SELECT round, statement, members, closed_at, state FROM rounds ORDER BY round")
        found = [_closed(r) for r in rows]
        return found if states is None else [r for r in found if r.state in states]

    def last_closed_round(self) -> int | None:
        return self._db.execute("SELECT MAX(round) FROM rounds").fetchone()[0]

    # -- proofs ----------------------------------------------------------------------------

    def publish_proof(self, proof: StoredProof) -> None:
        """Store a round's proof and mark the round done, in one transaction; proofs are kept forever."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT INTO proofs (round, proof, leaves, statement, pubkey, published_at) VALUES (?, ?, ?, ?, ?, ?)",
                (proof.round, proof.proof, proof.leaves, proof.statement, proof.pubkey, proof.published_at),
            )
            self._db.execute("UPDATE rounds SET state=? WHERE round=?", (RoundState.DONE.value, proof.round))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def proof(self, round_id: int) -> StoredProof | None:
        row = self._db.execute(
            "SELECT round, proof, leaves, statement, pubkey, published_at FROM proofs WHERE round=?", (round_id,)
        ).fetchone()
        if row is None:
            return None
        return StoredProof(row[0], bytes(row[1]), row[2], bytes(row[3]), bytes(row[4]), row[5])

    def proof_summaries(self) -> list[tuple[int, int, float]]:
        """(round, leaves, published_at) of every published proof, oldest first."""
        rows = self._db.execute("SELECT round, leaves, published_at FROM proofs ORDER BY round")
        return [(r[0], r[1], r[2]) for r in rows]


def _closed(row: tuple) -> ClosedRound:
    return ClosedRound(row[0], bytes(row[1]), row[2], row[3], RoundState(row[4]))
