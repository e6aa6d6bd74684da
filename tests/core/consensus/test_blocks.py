from fractions import Fraction

import blake3
import pytest

from core.consensus.blocks import BlockBuildError, ProposalInfo, TxInfo, build_block, order_transactions

A, B = b"\xaa" * 24, b"\xbb" * 24


def tid(n: int) -> bytes:
    return n.to_bytes(32, "big")


TXS = {tid(n): TxInfo(A if n % 2 else B, n // 2, 1000) for n in range(12)}


def proposal(pid: int, atx: int, weight: int, height: int, count: int, proofs: int, txs) -> ProposalInfo:
    return ProposalInfo(bytes([pid]) * 20, bytes([atx]) * 32, weight, height, count, proofs, tuple(tid(n) for n in txs))


P1 = proposal(1, 9, weight=300, height=50, count=10, proofs=2, txs=range(0, 8))
P2 = proposal(2, 3, weight=100, height=70, count=4, proofs=1, txs=range(4, 12))


def test_block_is_independent_of_proposal_order():
    block = build_block(30, [P1, P2], TXS, gas_limit=10**9)
    assert build_block(30, [P2, P1], TXS, gas_limit=10**9) == block
    assert block.layer == 30 and block.inner.tick_height == 70
    # rewards sorted by ATX id; weight = ATX weight / eligibility count * proofs
    assert [r.atx_id[0] for r in block.inner.rewards] == [3, 9]
    assert [r.weight.fraction() for r in block.inner.rewards] == [Fraction(100, 4), Fraction(300 * 2, 10)]
    assert sorted(block.inner.tx_ids) == [tid(n) for n in range(12)]


def test_order_is_the_seeded_shuffle_with_nonces_in_order():
    seed = blake3.blake3(bytes([1]) * 20 + bytes([2]) * 20).digest()
    ordered = order_transactions(seed, sorted(TXS), TXS)
    shuffled = sorted(TXS, key=lambda t: blake3.blake3(seed + t).digest())
    # each position keeps its account, and every account's nonces come out ascending
    assert [TXS[t].principal for t in ordered] == [TXS[t].principal for t in shuffled]
    for account in (A, B):
        nonces = [TXS[t].nonce for t in ordered if TXS[t].principal == account]
        assert nonces == sorted(nonces) == list(range(6))
    block = build_block(30, [P1, P2], TXS, gas_limit=10**9)
    assert list(block.inner.tx_ids) == ordered


def test_gas_limit_cuts_the_tail():
    block = build_block(30, [P1, P2], TXS, gas_limit=3500)
    full = build_block(30, [P1, P2], TXS, gas_limit=10**9)
    assert block.inner.tx_ids == full.inner.tx_ids[:3]


def test_empty_output_and_errors():
    assert build_block(30, [], TXS, 10**9) is None
    twin = proposal(5, 9, 300, 50, 10, 1, [])
    with pytest.raises(BlockBuildError, match="same ATX"):
        build_block(30, [P1, twin], TXS, 10**9)
    with pytest.raises(BlockBuildError, match="unknown"):
        build_block(30, [proposal(6, 1, 1, 1, 1, 1, [99])], TXS, 10**9)
