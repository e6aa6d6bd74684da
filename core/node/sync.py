"""Catching up from peers and serving them (spec/node.md §1.2 step 5, §9.3, §9.4).

A node asks one peer per layer it has no hare output for (ballots, blocks, certificate) and per
epoch for ATX ids and the beacon, then fetches the objects those lists name that it lacks in
`hs/1` batches; it answers the same requests from its own state.

A mixin of `Node` (core/node/node.py): it works on the node's state and is never used alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from core.codec import encode_compact
from core.consensus.certificate import InvalidCertificate, validate_certificate
from core.errors import DecodeError
from core.node.wire import (
    BATCH_BUDGET,
    EMPTY_BLOCK,
    HASH_FETCHES,
    MAX_BATCH,
    BatchAnswer,
    EpochInfo,
    HashBatch,
    HashRequest,
    LayerData,
    Request,
    decode_number,
)


class Sync:
    """Sync from peers and serving peers for a `Node`."""

    # ============================================================================================
    # sync: catch up on layers and epochs we missed (spec §1.2 step 5, §9.4)

    def _sync(self, layer: int) -> None:
        """Fetch data of past layers that have no hare output here (we were offline, or hare failed).

        A peer's certificate stands in for hare output (spec §9.4); one that has none may still
        get one, so a layer is asked again at every layer start while it is within hdist.  Older
        layers are left to the tortoise's vote counting.
        """
        done = True  # every layer so far has a hare output or is past hoping for a certificate
        for past in range(self._synced + 1, layer):
            if past not in self.hare_outputs:
                if past in self._sessions:
                    self._caught_up = True  # layers from here on are live
                    return  # our hare is still working on it
                if not self._epochs_synced:
                    self._sync_epochs(layer // self.lpe)
                data = self._request_layer(past)
                if data is None and not self._alone():
                    self._epochs_synced = False
                    return  # nobody reachable: try again next layer
                if data is not None:
                    self._adopt_layer(data)
            settled = past in self.hare_outputs or past < layer - self.config.hdist or self._alone()
            done = done and settled
            if done:
                self._synced = past
        self._caught_up = True  # every missed layer was asked for: gossip can be judged again

    def _alone(self) -> bool:
        """A network of one (standalone, spec §10.1): no peer could have what we missed, so the
        layers we slept through are settled as they are (go-spacemesh's standalone syncer likewise
        declares itself synced) instead of waiting for a peer forever.  A node that has peers to
        dial (bootnodes, or the peers of an earlier run) is not alone while they are unreachable:
        it waits for them rather than settle layers they may have data for."""
        if self.net is None:
            return True
        return not self.net.peers() and not getattr(self.net, "expects_peers", False)

    def _sync_epochs(self, epoch: int) -> None:
        """ATXs published in the last two epochs and beacons we lack (spec §9.4 ATX sync)."""
        for e in (epoch - 1, epoch):
            blob = self._request(Request.EPOCH, encode_compact(e), None)
            if blob is None:
                return
            try:
                info = EpochInfo.decode(blob)
            except (DecodeError, ValueError):
                continue
            with self._batch(Request.ATX, [a for a in info.atxs if self.atxs.get(a) is None]):
                for atx_id in info.atxs:
                    self._atx(atx_id, None)
            if info.beacon is not None and e not in self.beacons and e >= 2:
                self._set_beacon(e, info.beacon)  # spec §4: a node that missed the protocol adopts the peers'
        self._epochs_synced = True

    @contextlib.contextmanager
    def _batch(self, protocol: Request, ids: list[bytes], peer: str | None = None) -> Iterator[None]:
        """Fetch many objects of one kind in `hs/1` batches (spec §9.3 hash fetch with batching) for
        the block inside: their blobs wait in `_prefetched` until the single-object fetch asks for
        them, which checks and validates them as usual.  What a batch did not bring (a peer without
        `hs/1`, an object it lacks) is asked for alone; what nobody asked for is dropped at the end."""
        keys: list[tuple[Request, bytes]] = []
        for start in range(0, len(ids) if len(ids) > 1 else 0, MAX_BATCH):
            chunk = ids[start : start + MAX_BATCH]
            batch = HashBatch(tuple(HashRequest(protocol.value, h) for h in chunk))
            blob = self._request(Request.BATCH, batch.encode(), peer)
            try:
                answer = BatchAnswer.decode(blob) if blob is not None else None
            except (DecodeError, ValueError):
                answer = None
            if answer is None or len(answer.blobs) != len(chunk):
                break
            for object_id, found in zip(chunk, answer.blobs):
                if found is not None:
                    self._prefetched[(protocol, object_id)] = found
                    keys.append((protocol, object_id))
        try:
            yield
        finally:
            for key in keys:
                self._prefetched.pop(key, None)

    def _request_layer(self, layer: int) -> LayerData | None:
        blob = self._request(Request.LAYER, encode_compact(layer), None)
        try:
            data = LayerData.decode(blob) if blob is not None else None
        except (DecodeError, ValueError):
            return None
        return data if data is not None and data.layer == layer else None

    def _adopt_layer(self, data: LayerData) -> None:
        """Validate and take a peer's ballots, blocks and certificate of one layer."""
        with self._batch(Request.BALLOT, [b for b in data.ballots if b not in self.ballots]):
            for ballot_id in data.ballots:
                if ballot_id not in self.ballots:
                    self._fetch_ballot(ballot_id, None)
        with self._batch(Request.BLOCK, [b for b in data.blocks if b not in self.blocks]):
            for block_id in data.blocks:
                self._block(block_id)
        cert, layer = data.certificate, data.layer
        if cert is None or layer in self.hare_outputs:
            return
        epoch = layer // self.lpe
        oracle, beacon = self._oracle(epoch), self.beacons.get(epoch)
        if oracle is None or beacon is None:
            return
        try:
            validate_certificate(
                cert, layer=layer, beacon=beacon, genesis_id=self.genesis_id, oracle=oracle,
                committee=self.config.certificate_committee,
            )
        except InvalidCertificate as e:
            self._emit("certificate_rejected", layer=layer, reason=str(e))
            return
        block = self._block(cert.block_id) if cert.block_id != EMPTY_BLOCK else None
        if cert.block_id != EMPTY_BLOCK and block is None:
            return
        self.certificates[layer] = cert
        self._set_hare_output(layer, block, cert)

    # ============================================================================================
    # serving peers (spec §9.3)

    def serve(self, protocol: str, payload: bytes) -> bytes | None:
        """Answer a peer's request; None when we do not have what it asks for."""
        try:
            return self._serve(Request(protocol), payload)
        except (ValueError, DecodeError):
            return None

    def _serve(self, protocol: Request, payload: bytes) -> bytes | None:
        if protocol is Request.BATCH:
            return self._serve_batch(HashBatch.decode(payload))
        if protocol is Request.ATX:
            return self.atxs.blob(payload)
        if protocol is Request.BALLOT:
            ballot = self.ballots.get(payload)
            return ballot.encode() if ballot else None
        if protocol is Request.PROPOSAL:
            for by_id in self.proposals.values():
                if payload in by_id:
                    return by_id[payload].encode()
            return None
        if protocol is Request.BLOCK:
            block = self.blocks.get(payload)
            return block.encode() if block else None
        if protocol is Request.TX:
            return self.store.transaction_blob(payload)
        if protocol is Request.POET:
            return self.poets.message_bytes(payload)
        number = decode_number(payload)
        if protocol is Request.LAYER:
            return self._layer_data(number).encode()
        if protocol is Request.ACTIVE_SET:
            active = self.active_sets.get(number)  # only a set fixed here: never one we would ask for
            return EpochInfo(number, tuple(a.id for a in active.atxs), None).encode() if active else None
        ids = tuple(self.atxs.ids_published_in(number))
        return EpochInfo(number, ids, self.beacons.get(number)).encode()

    def _serve_batch(self, batch: HashBatch) -> bytes:
        blobs: list[bytes | None] = []
        size = 0
        for item in batch.items:
            try:
                protocol = Request(item.hint)
            except ValueError:
                protocol = None
            blob = self._serve(protocol, item.hash) if protocol in HASH_FETCHES else None
            if blob is not None and size + len(blob) > BATCH_BUDGET:
                blob = None  # the asker fetches the rest again
            size += len(blob) if blob is not None else 0
            blobs.append(blob)
        return BatchAnswer(tuple(blobs)).encode()

    def _layer_data(self, layer: int) -> LayerData:
        ballots = tuple(bid for bid, b in self.ballots.items() if b.layer == layer)
        blocks = tuple(bid for bid, b in self.blocks.items() if b.layer == layer)
        return LayerData(layer, ballots, blocks, self.certificates.get(layer))
