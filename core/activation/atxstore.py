"""ATX persistence and queries over the mesh store (spec/node.md §2.5–2.6, §8).

A valid ATX is kept twice in one transaction: what validation derived (`atxs`: effective units,
tick heights, weight, VRF nonce, ...) and the ATX as it came over the wire (`atx_blobs`), so it
can be served to peers byte for byte.  Identities caught breaking the rules are rows of
`malfeasance`; their ATXs stay (they are evidence) but weigh nothing in every epoch query.

`AtxStore` implements the `KnownAtxs` protocol of `core.activation.validation`, so the one
validation path reads the same data the node stores.  It shares `MeshStore`'s connection: writes
go through `MeshStore.transaction()` (one writer); reads are plain queries.
"""

from __future__ import annotations

import dataclasses
import time

from core.activation.validation import AtxInfo
from core.mesh.store import MeshStore, u64_from_sql, u64_to_sql

VALID = 1  # `atxs.validity`: only valid ATXs are stored here

_COLUMNS = (
    "id, pubkey, epoch, sequence, coinbase, effective_num_units, base_tick_height, tick_count, nonce, commitment_atx"
)


@dataclasses.dataclass(frozen=True)
class EpochAtx:
    """One ATX as the consensus layers see it for the epoch it targets (spec §2.6 `atxsdata`)."""

    id: bytes
    node_id: bytes
    coinbase: bytes
    weight: int  # units × ticks; 0 when the identity is malicious
    base_tick_height: int
    tick_height: int
    vrf_nonce: int
    received: float  # Unix seconds when this node first saw it
    malicious: bool


def _info(row: tuple) -> AtxInfo:
    atx_id, node, epoch, seq, coinbase, units, base, ticks, nonce, commitment = row
    return AtxInfo(
        bytes(atx_id), bytes(node), epoch, seq, bytes(coinbase), units, base, ticks, u64_from_sql(nonce),
        bytes(commitment) if commitment is not None else b"",
    )  # fmt: skip


def _nanos(t: float) -> int:
    return int(round(t * 1e9))


class AtxStore:
    """Valid ATXs and malicious identities of the mesh (`atxs`, `atx_blobs`, `malfeasance`)."""

    def __init__(self, mesh: MeshStore) -> None:
        self.mesh = mesh

    # -- writing -----------------------------------------------------------------------------

    def add(self, info: AtxInfo, blob: bytes, received: float | None = None) -> bool:
        """Store a validated ATX and its wire bytes atomically; False if it was already stored."""
        received = time.time() if received is None else received
        with self.mesh.transaction() as tx:
            if tx.execute("SELECT 1 FROM atxs WHERE id = ?", (info.id,)).fetchone():
                return False
            tx.execute(
                "INSERT INTO atxs (id, epoch, effective_num_units, commitment_atx, nonce, base_tick_height, "
                "tick_count, sequence, pubkey, coinbase, received, validity, weight) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info.id, info.publish_epoch, info.num_units, info.commitment_atx, u64_to_sql(info.vrf_nonce),
                    info.base_tick_height, info.tick_count, info.sequence, info.node_id, info.coinbase,
                    _nanos(received), VALID, info.weight,
                ),
            )  # fmt: skip
            tx.execute("INSERT INTO atx_blobs (id, atx, version) VALUES (?, ?, 1)", (info.id, blob))
        return True

    def set_malicious(self, node_id: bytes, proof: bytes, *, domain: int = 0, received: float | None = None) -> bool:
        """Mark an identity malicious with its proof; False if it already was (the first proof stays)."""
        received = time.time() if received is None else received
        with self.mesh.transaction() as tx:
            cursor = tx.execute(
                "INSERT OR IGNORE INTO malfeasance (pubkey, received, domain, proof) VALUES (?, ?, ?, ?)",
                (node_id, _nanos(received), domain, proof),
            )
            return cursor.rowcount == 1

    # -- single ATXs (the KnownAtxs protocol) -------------------------------------------------

    def get(self, atx_id: bytes) -> AtxInfo | None:
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM atxs WHERE id = ?", (atx_id,)).fetchone()
        return _info(row) if row else None

    def by_identity(self, node_id: bytes, publish_epoch: int) -> AtxInfo | None:
        """The identity's ATX published in `publish_epoch` (the first stored, if it published two)."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM atxs WHERE pubkey = ? AND epoch = ? ORDER BY received, id LIMIT 1",
            (node_id, publish_epoch),
        ).fetchone()
        return _info(row) if row else None

    def latest_by_identity(self, node_id: bytes) -> AtxInfo | None:
        """The identity's ATX with the highest publish epoch: the `prev` of its next ATX."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM atxs WHERE pubkey = ? ORDER BY epoch DESC, sequence DESC LIMIT 1", (node_id,)
        ).fetchone()
        return _info(row) if row else None

    def blob(self, atx_id: bytes) -> bytes | None:
        """The ATX as received (SCALE), for serving peers."""
        row = self._conn.execute("SELECT atx FROM atx_blobs WHERE id = ?", (atx_id,)).fetchone()
        return bytes(row[0]) if row else None

    def received(self, atx_id: bytes) -> float | None:
        row = self._conn.execute("SELECT received FROM atxs WHERE id = ?", (atx_id,)).fetchone()
        return row[0] / 1e9 if row else None

    def weight(self, atx_id: bytes) -> int:
        """The ATX's weight, 0 if unknown or if its identity is malicious."""
        row = self._conn.execute(
            "SELECT weight, pubkey IN (SELECT pubkey FROM malfeasance) FROM atxs WHERE id = ?", (atx_id,)
        ).fetchone()
        return 0 if row is None or row[1] else row[0]

    # -- epochs ------------------------------------------------------------------------------

    def ids_published_in(self, publish_epoch: int) -> list[bytes]:
        """Every stored ATX id published in an epoch (what ATX sync exchanges), sorted."""
        rows = self._conn.execute("SELECT id FROM atxs WHERE epoch = ? ORDER BY id", (publish_epoch,))
        return [bytes(r[0]) for r in rows]

    def targeting(self, target_epoch: int) -> list[EpochAtx]:
        """ATXs that make their identities eligible in `target_epoch` (published one epoch before)."""
        rows = self._conn.execute(
            "SELECT id, pubkey, coinbase, weight, base_tick_height, tick_count, nonce, received, "
            "pubkey IN (SELECT pubkey FROM malfeasance) FROM atxs WHERE epoch = ? ORDER BY id",
            (target_epoch - 1,),
        )
        return [
            EpochAtx(
                bytes(i), bytes(n), bytes(c), 0 if bad else w, base, base + ticks, u64_from_sql(nonce), rec / 1e9,
                bool(bad),
            )
            for i, n, c, w, base, ticks, nonce, rec, bad in rows
        ]

    def epoch_weights(self, target_epoch: int) -> dict[bytes, int]:
        """ATX id → weight for the epoch (malicious identities weigh 0)."""
        return {a.id: a.weight for a in self.targeting(target_epoch)}

    def total_weight(self, target_epoch: int) -> int:
        return sum(a.weight for a in self.targeting(target_epoch))

    def highest_tick(self, max_publish_epoch: int) -> AtxInfo | None:
        """The positioning candidate: the highest tick height among honest ATXs published by
        `max_publish_epoch` (ties: the lowest id, so every node picks the same)."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM atxs WHERE epoch <= ? AND pubkey NOT IN (SELECT pubkey FROM malfeasance) "
            "ORDER BY base_tick_height + tick_count DESC, id LIMIT 1",
            (max_publish_epoch,),
        ).fetchone()
        return _info(row) if row else None

    # -- malfeasance -------------------------------------------------------------------------

    def is_malicious(self, node_id: bytes) -> bool:
        return self._conn.execute("SELECT 1 FROM malfeasance WHERE pubkey = ?", (node_id,)).fetchone() is not None

    def malicious_identities(self) -> list[bytes]:
        return [bytes(r[0]) for r in self._conn.execute("SELECT pubkey FROM malfeasance ORDER BY pubkey")]

    def malfeasance_proof(self, node_id: bytes) -> bytes | None:
        row = self._conn.execute("SELECT proof FROM malfeasance WHERE pubkey = ?", (node_id,)).fetchone()
        return bytes(row[0]) if row else None

    @property
    def _conn(self):  # noqa: ANN202 - sqlite3.Connection
        return self.mesh.conn
