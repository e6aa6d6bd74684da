"""The opinion hash chain (spec/node.md §3.6), checked against BLAKE3 computed here directly."""

import struct

import pytest
from blake3 import blake3
from hypothesis import given
from hypothesis import strategies as st

from core.consensus.opinion import (
    ABSTAIN,
    EMPTY,
    GENESIS_OPINION,
    BlockRef,
    LayerVote,
    layer_opinion,
    opinion_chain,
)

A = bytes([0xAA]) * 20
B = bytes([0x01]) * 20
C = bytes([0x02]) * 20


def b3(data: bytes) -> bytes:
    return blake3(data).digest()


def support(*refs: tuple[bytes, int]) -> LayerVote:
    return LayerVote(support=frozenset(BlockRef(height, block_id) for block_id, height in refs))


def test_genesis_is_blake3_of_nothing():
    assert GENESIS_OPINION == b3(b"")
    assert GENESIS_OPINION.hex() == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


def test_abstain_appends_a_zero_byte():
    assert layer_opinion(GENESIS_OPINION, ABSTAIN) == b3(GENESIS_OPINION + b"\x00")


def test_empty_layer_hashes_the_previous_opinion_only():
    assert layer_opinion(GENESIS_OPINION, EMPTY) == b3(GENESIS_OPINION)
    assert layer_opinion(GENESIS_OPINION, EMPTY) != layer_opinion(GENESIS_OPINION, ABSTAIN)


def test_supported_block_is_id_then_little_endian_u64_height():
    previous = b3(b"previous")
    expected = b3(previous + A + struct.pack("<Q", 0x0102030405))
    assert layer_opinion(previous, support((A, 0x0102030405))) == expected


def test_blocks_are_ordered_by_height_then_id():
    # A has the largest id but the smallest height, so it comes first; B and C tie on height
    vote = support((C, 7), (A, 5), (B, 7))
    expected = b3(GENESIS_OPINION + A + struct.pack("<Q", 5) + B + struct.pack("<Q", 7) + C + struct.pack("<Q", 7))
    assert layer_opinion(GENESIS_OPINION, vote) == expected


def test_chain_of_layers():
    votes = [support((A, 1)), EMPTY, ABSTAIN, support((B, 2), (C, 1))]
    h1 = b3(GENESIS_OPINION + A + struct.pack("<Q", 1))
    h2 = b3(h1)
    h3 = b3(h2 + b"\x00")
    h4 = b3(h3 + C + struct.pack("<Q", 1) + B + struct.pack("<Q", 2))
    assert opinion_chain(votes) == [h1, h2, h3, h4]
    assert opinion_chain(votes[2:], start=h2) == [h3, h4]


def test_height_is_part_of_the_opinion():
    assert layer_opinion(GENESIS_OPINION, support((A, 1))) != layer_opinion(GENESIS_OPINION, support((A, 2)))


def test_abstain_cannot_carry_support():
    with pytest.raises(ValueError):
        LayerVote(abstain=True, support=frozenset([BlockRef(1, A)]))


@given(st.lists(st.tuples(st.binary(min_size=20, max_size=20), st.integers(0, 2**64 - 1)), max_size=6), st.randoms())
def test_order_of_the_support_set_never_matters(refs, rnd):
    shuffled = list(refs)
    rnd.shuffle(shuffled)
    ordered = sorted(set(refs), key=lambda r: (r[1], r[0]))
    expected = b3(GENESIS_OPINION + b"".join(i + struct.pack("<Q", h) for i, h in ordered))
    assert layer_opinion(GENESIS_OPINION, support(*shuffled)) == expected
