"""Read-only queries over the mesh store for the API (spec/api-ecosystem.md §1.3–1.4).

Every listing takes the API's filters and `offset`/`limit` pagination and has a matching count, so a
servicer can answer `total_results` without loading rows.  Rows come back as small frozen records with
raw bytes (ids, addresses); turning them into protobuf messages is the servicers' job.

Queries read the store's connection without its writer lock: SQLite in WAL mode gives each statement
a consistent snapshot, and the node and the API run on the same thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from core.mesh.store import MeshStore, decode_result, u64_from_sql
from core.types.ballot import Block
from core.vm.vm import TxStatus

_NO_LAYER = 1 << 62  # sorts transactions not yet in an applied block after every layer


@dataclasses.dataclass(frozen=True)
class LayerRow:
    number: int
    applied_block: bytes | None  # EMPTY_BLOCK (20 zero bytes) for an empty layer; None: not applied
    state_hash: bytes | None
    aggregated_hash: bytes | None  # the opinion (consensus) hash
    hare_block: bytes | None  # the hare output (None: none yet or empty)
    certified: bool  # a certificate is stored for the hare output


@dataclasses.dataclass(frozen=True)
class TxRow:
    id: bytes
    raw: bytes
    principal: bytes
    nonce: int
    received: int  # Unix seconds when the node first stored it
    layer: int | None  # of the applied block that carried it; None while pending
    block: bytes | None
    status: TxStatus | None  # None while pending
    message: str
    fee: int


@dataclasses.dataclass(frozen=True)
class RewardRow:
    layer: int
    total: int  # subsidy share + fees share, smidge
    layer_reward: int  # the subsidy share alone
    coinbase: bytes
    smesher: bytes  # node id (ATX id when the smesher was unknown at apply time)


@dataclasses.dataclass(frozen=True)
class AtxRow:
    id: bytes
    smesher: bytes
    publish_epoch: int
    coinbase: bytes
    weight: int
    height: int  # tick height: base + ticks
    num_units: int  # effective
    sequence: int
    commitment_atx: bytes | None
    vrf_nonce: int | None


def _page(offset: int, limit: int | None) -> tuple[str, tuple]:
    if limit is None:
        return (" LIMIT -1 OFFSET ?", (offset,)) if offset else ("", ())
    return " LIMIT ? OFFSET ?", (limit, offset)


def _in(column: str, values: Sequence[bytes]) -> tuple[str, tuple]:
    return f"{column} IN ({', '.join('?' * len(values))})", tuple(values)


class MeshQueries:
    """Listings and counts over a `MeshStore` (state.sql)."""

    def __init__(self, store: MeshStore) -> None:
        self.store = store

    @property
    def _conn(self):  # noqa: ANN202 - sqlite3.Connection
        return self.store.conn

    # -- layers ------------------------------------------------------------------------------

    def layers(
        self, start: int, end: int, offset: int = 0, limit: int | None = None, descending: bool = False
    ) -> list[LayerRow]:
        """Layers start..end (inclusive) the store knows anything about, in layer order."""
        page, page_args = _page(offset, limit)
        rows = self._conn.execute(
            "SELECT l.id, l.applied_block, l.state_hash, l.aggregated_hash, "
            "(SELECT c.block FROM certificates c WHERE c.layer = l.id AND c.valid = 1 ORDER BY c.rowid LIMIT 1), "
            "EXISTS (SELECT 1 FROM certificates c WHERE c.layer = l.id AND c.cert IS NOT NULL) "
            "FROM layers l WHERE l.id BETWEEN ? AND ? "
            f"ORDER BY l.id {'DESC' if descending else 'ASC'}" + page,
            (start, end, *page_args),
        ).fetchall()
        return [LayerRow(n, ab, sh, ah, hb, bool(cert)) for n, ab, sh, ah, hb, cert in rows]

    def count_layers(self, start: int, end: int) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM layers WHERE id BETWEEN ? AND ?", (start, end)).fetchone()[0]

    def blocks_in_layer(self, layer: int) -> list[Block]:
        rows = self._conn.execute("SELECT block FROM blocks WHERE layer = ? ORDER BY id", (layer,))
        return [Block.decode(r[0]) for r in rows]

    # -- transactions --------------------------------------------------------------------------

    def _tx_filter(
        self, ids: Sequence[bytes], address: bytes | None, start_layer: int | None, end_layer: int | None
    ) -> tuple[str, tuple]:
        clauses: list[str] = []
        args: tuple = ()
        if ids:
            clause, more = _in("id", ids)
            clauses.append(clause)
            args += more
        if address is not None:
            clauses.append("(principal = ? OR id IN (SELECT tid FROM transactions_results_addresses WHERE address = ?))")
            args += (address, address)
        if start_layer is not None:
            clauses.append("layer >= ?")
            args += (start_layer,)
        if end_layer is not None:
            clauses.append("layer <= ?")
            args += (end_layer,)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def transactions(
        self,
        *,
        ids: Sequence[bytes] = (),
        address: bytes | None = None,
        start_layer: int | None = None,
        end_layer: int | None = None,
        offset: int = 0,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[TxRow]:
        """Stored transactions matching every filter given: `address` matches the principal and every
        account the transaction touched; a layer bound leaves out pending ones.  Ordered by the layer
        that applied them (pending last), then arrival, then id."""
        where, args = self._tx_filter(ids, address, start_layer, end_layer)
        page, page_args = _page(offset, limit)
        order = "DESC" if descending else "ASC"
        rows = self._conn.execute(
            "SELECT id, tx, principal, nonce, timestamp, layer, block, result FROM transactions" + where
            + f" ORDER BY COALESCE(layer, {_NO_LAYER}) {order}, timestamp {order}, id {order}" + page,
            args + page_args,
        ).fetchall()
        return [_tx_row(row) for row in rows]

    def count_transactions(
        self,
        *,
        ids: Sequence[bytes] = (),
        address: bytes | None = None,
        start_layer: int | None = None,
        end_layer: int | None = None,
    ) -> int:
        where, args = self._tx_filter(ids, address, start_layer, end_layer)
        return self._conn.execute("SELECT COUNT(*) FROM transactions" + where, args).fetchone()[0]

    def transaction(self, tx_id: bytes) -> TxRow | None:
        rows = self.transactions(ids=[tx_id])
        return rows[0] if rows else None

    # -- rewards -------------------------------------------------------------------------------

    def _reward_filter(
        self, coinbase: bytes | None, smesher: bytes | None, start_layer: int | None, end_layer: int | None
    ) -> tuple[str, tuple]:
        clauses, args = [], ()
        for clause, value in (
            ("coinbase = ?", coinbase), ("pubkey = ?", smesher), ("layer >= ?", start_layer), ("layer <= ?", end_layer),
        ):  # fmt: skip
            if value is not None:
                clauses.append(clause)
                args += (value,)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def rewards(
        self,
        *,
        coinbase: bytes | None = None,
        smesher: bytes | None = None,
        start_layer: int | None = None,
        end_layer: int | None = None,
        offset: int = 0,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[RewardRow]:
        where, args = self._reward_filter(coinbase, smesher, start_layer, end_layer)
        page, page_args = _page(offset, limit)
        order = "DESC" if descending else "ASC"
        rows = self._conn.execute(
            "SELECT layer, total_reward, layer_reward, coinbase, pubkey FROM rewards" + where
            + f" ORDER BY layer {order}, pubkey {order}" + page,
            args + page_args,
        ).fetchall()
        return [RewardRow(layer, total, lr, bytes(cb), bytes(pk)) for layer, total, lr, cb, pk in rows]

    def count_rewards(
        self,
        *,
        coinbase: bytes | None = None,
        smesher: bytes | None = None,
        start_layer: int | None = None,
        end_layer: int | None = None,
    ) -> int:
        where, args = self._reward_filter(coinbase, smesher, start_layer, end_layer)
        return self._conn.execute("SELECT COUNT(*) FROM rewards" + where, args).fetchone()[0]

    # -- activations -----------------------------------------------------------------------------

    def _atx_filter(
        self,
        start_epoch: int | None,
        end_epoch: int | None,
        ids: Sequence[bytes],
        smesher_ids: Sequence[bytes],
        coinbase: bytes | None,
    ) -> tuple[str, tuple]:
        clauses, args = [], ()
        for clause, value in (("epoch >= ?", start_epoch), ("epoch <= ?", end_epoch), ("coinbase = ?", coinbase)):
            if value is not None:
                clauses.append(clause)
                args += (value,)
        for column, values in (("id", ids), ("pubkey", smesher_ids)):
            if values:
                clause, more = _in(column, values)
                clauses.append(clause)
                args += more
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def atxs(
        self,
        *,
        start_epoch: int | None = None,
        end_epoch: int | None = None,
        ids: Sequence[bytes] = (),
        smesher_ids: Sequence[bytes] = (),
        coinbase: bytes | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[AtxRow]:
        """Stored (valid) ATXs by publish epoch, then id."""
        where, args = self._atx_filter(start_epoch, end_epoch, ids, smesher_ids, coinbase)
        page, page_args = _page(offset, limit)
        rows = self._conn.execute(
            "SELECT id, pubkey, epoch, coinbase, weight, base_tick_height + tick_count, effective_num_units, "
            "sequence, commitment_atx, nonce FROM atxs" + where + " ORDER BY epoch, id" + page,
            args + page_args,
        ).fetchall()
        return [
            AtxRow(
                bytes(i), bytes(pk), epoch, bytes(cb), weight, height, units, seq,
                bytes(commit) if commit is not None else None, u64_from_sql(nonce) if nonce is not None else None,
            )
            for i, pk, epoch, cb, weight, height, units, seq, commit, nonce in rows
        ]  # fmt: skip

    def count_atxs(
        self,
        *,
        start_epoch: int | None = None,
        end_epoch: int | None = None,
        ids: Sequence[bytes] = (),
        smesher_ids: Sequence[bytes] = (),
        coinbase: bytes | None = None,
    ) -> int:
        where, args = self._atx_filter(start_epoch, end_epoch, ids, smesher_ids, coinbase)
        return self._conn.execute("SELECT COUNT(*) FROM atxs" + where, args).fetchone()[0]

    def touched_addresses(self, tx_id: bytes) -> list[bytes]:
        """Accounts an applied transaction's result touched (principal first, in the VM's order);
        empty while pending and for ineffective transactions."""
        rows = self._conn.execute(
            "SELECT address FROM transactions_results_addresses WHERE tid = ? ORDER BY rowid", (tx_id,)
        )
        return [bytes(r[0]) for r in rows]

    def account_addresses(self, offset: int = 0, limit: int | None = None) -> list[bytes]:
        """Every account the state knows, most recently changed first (then by address)."""
        page, page_args = _page(offset, limit)
        rows = self._conn.execute(
            "SELECT address FROM accounts GROUP BY address ORDER BY MAX(layer_updated) DESC, address" + page,
            page_args,
        )
        return [bytes(r[0]) for r in rows]

    def top_layer(self) -> int | None:
        """The highest layer the store has a row for (applied or not); None for an empty store."""
        return self._conn.execute("SELECT MAX(id) FROM layers").fetchone()[0]

    def top_atx_epoch(self) -> int | None:
        """The highest publish epoch of a stored ATX; None without any."""
        return self._conn.execute("SELECT MAX(epoch) FROM atxs").fetchone()[0]


def _tx_row(row: tuple) -> TxRow:
    tx_id, raw, principal, nonce, received, layer, block, result = row
    status, fee, message = decode_result(result) if result is not None else (None, 0, "")
    return TxRow(
        bytes(tx_id), bytes(raw), bytes(principal), nonce, received, layer, bytes(block) if block else None,
        status, message, fee,
    )  # fmt: skip
