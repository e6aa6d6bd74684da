"""Applying the mesh (spec/node.md §6.6, §7.2, §7.3): layers in order through the VM as the
tortoise decides them, reverting and re-applying when a layer's result changes.

A mixin of `Node` (core/node/node.py): it works on the node's state and is never used alone.
"""

from __future__ import annotations

from core.consensus.tortoise import LayerResult
from core.node.wire import EMPTY_BLOCK, Unavailable
from core.txs.mempool import MempoolError
from core.types.ballot import Block
from core.vm.rewards import RewardShare


class MeshApplier:
    """Layer application and reverts of a `Node`."""

    # ============================================================================================
    # the mesh: apply layers in order, revert on changed results (spec §6.6, §7.2, §7.3)

    def _process_mesh(self) -> None:
        last = self._layer
        if last <= self.effective_genesis:
            return
        self.tortoise.tally_votes(last)
        first_change = None
        for result in self.tortoise.updates():
            self.results[result.layer] = result
            layer = result.layer
            if layer <= self.last_applied:
                if (result.block_to_apply() or EMPTY_BLOCK) != self.applied.get(layer):
                    first_change = layer if first_change is None else min(first_change, layer)
                else:
                    self.store.set_aggregated_hash(layer, result.opinion)
        if first_change is not None:
            self._revert(first_change - 1)
        self._apply_ready()

    def _apply_ready(self) -> None:
        """Apply layers after the last applied one while their result is decided (hare or verified).

        Not before the node caught up on what it missed (a late or restarted node's first sync
        pass): until its peers answered, a missed layer looks empty, and applying it would only
        be reverted once their data arrives."""
        if not self._caught_up:
            return
        while True:
            layer = self.last_applied + 1
            result = self.results.get(layer)
            if result is None or not (result.verified or result.hare_terminated):
                return
            if not self._apply(result):
                return

    def _apply(self, result: LayerResult) -> bool:
        layer, block_id = result.layer, result.block_to_apply()
        block = self._block(block_id) if block_id else None
        if block_id and block is None:
            return False  # wait until a peer can give us the block
        try:
            raws = [self._require_tx(t, None) for t in block.inner.tx_ids] if block else []
            shares, smesher_of = self._reward_shares(block)
        except Unavailable:
            return False
        outcome = self.vm.apply(self.store.view(layer - 1), layer, raws, shares)
        self.store.apply_layer(outcome, block_id or EMPTY_BLOCK, smesher_of, aggregated_hash=result.opinion)
        self.applied[layer] = block_id or EMPTY_BLOCK
        self.last_applied = layer
        self.mempool.on_layer_applied([r.tx_id for r in outcome.results])
        self._emit("applied", layer=layer, block=(block_id or EMPTY_BLOCK).hex(), state_hash=outcome.state_hash.hex(),
                   txs=len(outcome.results), rewards=sum(r.total for r in outcome.rewards))
        return True

    def _reward_shares(self, block: Block | None) -> tuple[list[RewardShare], dict[bytes, bytes]]:
        shares, smesher_of = [], {}
        for reward in block.inner.rewards if block else ():
            atx = self._atx(reward.atx_id, None)
            if atx is None:
                raise Unavailable("a rewarded ATX is unknown")
            shares.append(RewardShare(atx.coinbase, atx.id, reward.weight.fraction()))
            smesher_of[atx.id] = atx.node_id
        return shares, smesher_of

    def _revert(self, to_layer: int) -> None:
        """Undo applied layers after `to_layer`; their transactions go back to the mempool."""
        reverted = [self.applied.pop(x) for x in range(to_layer + 1, self.last_applied + 1)]
        self.store.revert_to(to_layer)
        self._emit("reverted", to_layer=to_layer, layers=len(reverted))
        self.last_applied = to_layer
        for block_id in reverted:
            block = self.blocks.get(block_id)
            for tx_id in block.inner.tx_ids if block else ():
                raw = self.store.transaction_blob(tx_id)
                try:
                    if raw is not None:
                        self.mempool.add(raw, self.clock.now())
                except MempoolError:
                    pass
        self.mempool.on_layer_applied()
