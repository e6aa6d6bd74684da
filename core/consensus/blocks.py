"""Building a layer's block from the hare output (spec/node.md §7.1).

Every honest node builds the same block from the same proposals:
- rewards: one entry per proposal's ATX, weight = ATX weight / eligibility count × proofs in the
  ballot (exact rational), sorted by ATX id; two proposals from one ATX make the layer invalid;
- tick height: the highest of the proposals' ATX tick heights;
- transactions: the union of the proposals' ids, sorted, then shuffled deterministically with a
  seed derived from the proposal ids while keeping each account's nonce order, and cut at the
  block gas limit.  (The shuffle orders by BLAKE3(seed ‖ tx id), the simplification spec §11
  allows in place of go-spacemesh's MT19937.)
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from fractions import Fraction

from core.crypto.hashing import hash32
from core.errors import SmeshError
from core.types.ballot import AnyReward, Block, InnerBlock, RatNum


class BlockBuildError(SmeshError):
    """Hare output that cannot make a block."""


@dataclasses.dataclass(frozen=True)
class ProposalInfo:
    """What block building needs to know about one proposal in the hare output."""

    proposal_id: bytes
    atx_id: bytes
    atx_weight: int
    atx_tick_height: int
    eligibility_count: int  # slots of the identity in the epoch (from its reference ballot)
    num_proofs: int  # eligibility proofs in this proposal's ballot
    tx_ids: tuple[bytes, ...]


@dataclasses.dataclass(frozen=True)
class TxInfo:
    principal: bytes
    nonce: int
    max_gas: int


def reward_weight(p: ProposalInfo) -> Fraction:
    return Fraction(p.atx_weight, p.eligibility_count) * p.num_proofs


def order_transactions(seed: bytes, tx_ids: Sequence[bytes], txs: Mapping[bytes, TxInfo]) -> list[bytes]:
    """Shuffle by BLAKE3(seed ‖ id), then give each account's slots its transactions in nonce order."""
    shuffled = sorted(tx_ids, key=lambda tid: hash32(seed, tid))
    by_account: dict[bytes, list[bytes]] = defaultdict(list)
    for tid in shuffled:
        by_account[txs[tid].principal].append(tid)
    queues = {a: sorted(ids, key=lambda t: (txs[t].nonce, t)) for a, ids in by_account.items()}
    cursor: dict[bytes, int] = defaultdict(int)
    ordered = []
    for tid in shuffled:
        account = txs[tid].principal
        ordered.append(queues[account][cursor[account]])
        cursor[account] += 1
    return ordered


def build_block(
    layer: int, proposals: Sequence[ProposalInfo], txs: Mapping[bytes, TxInfo], gas_limit: int
) -> Block | None:
    """The block for a hare output; None when the output is empty.

    `txs` must describe every transaction the proposals reference (fetch missing ones first);
    unknown ids are an error rather than silently dropped, since dropping would fork the block.
    """
    if not proposals:
        return None
    atxs = [p.atx_id for p in proposals]
    if len(set(atxs)) != len(atxs):
        raise BlockBuildError(f"two proposals in layer {layer} come from the same ATX")
    rewards = tuple(
        AnyReward(p.atx_id, RatNum.of(reward_weight(p))) for p in sorted(proposals, key=lambda p: p.atx_id)
    )
    tick_height = max(p.atx_tick_height for p in proposals)
    tx_ids = sorted({tid for p in proposals for tid in p.tx_ids})
    missing = [tid for tid in tx_ids if tid not in txs]
    if missing:
        raise BlockBuildError(f"{len(missing)} transactions of layer {layer}'s proposals are unknown")
    seed = hash32(*sorted(p.proposal_id for p in proposals))
    chosen, gas = [], 0
    for tid in order_transactions(seed, tx_ids, txs):
        if gas + txs[tid].max_gas > gas_limit:
            break
        gas += txs[tid].max_gas
        chosen.append(tid)
    return Block(InnerBlock(layer, tick_height, rewards, tuple(chosen)))
