"""Layouts checked against bytes written out by hand; ids and signatures checked with blake3/nacl directly."""

import blake3
import pytest
from nacl.signing import SigningKey, VerifyKey

from core.codec import encode_compact
from core.errors import DecodeError
from core.types.atx import ATXV1, EMPTY_ID, InnerATXV1, MerkleProofV1, NIPostChallengeV1, NIPostV1, PostMetadataV1, PostV1
from core.types.ballot import (
    EMPTY_BALLOT,
    AnyReward,
    Ballot,
    Block,
    EpochData,
    InnerBallot,
    InnerBlock,
    InnerProposal,
    Proposal,
    RatNum,
    Vote,
    Votes,
    VotingEligibility,
)

GENESIS = bytes(range(20))
KEY = SigningKey(b"\x09" * 32)
NODE = bytes(KEY.verify_key)


def first_atx() -> InnerATXV1:
    challenge = NIPostChallengeV1(2, 0, EMPTY_ID, b"\x11" * 32, b"\x22" * 32, PostV1(3, b"\xaa\xbb", 7))
    nipost = NIPostV1(MerkleProofV1((b"\x33" * 32,), 5), PostV1(1, b"\xcc", 0), PostMetadataV1(b"\x44" * 32, 64))
    return InnerATXV1(challenge, b"\x00" * 4 + b"\x55" * 20, 1, nipost, NODE, 31)


def test_atx_layout_id_and_signature():
    inner = first_atx()
    expected = (
        "08" "00" + "00" * 32 + "11" * 32 + "01" + "22" * 32 + "01" "0c" "08aabb" "1c"  # challenge
        + "00000000" + "55" * 20 + "04"  # coinbase, num units 1
        + "01" "04" + "33" * 32 + "14"  # nipost: membership (1 node, leaf 5)
        + "01" "04" "04cc" "00"  # post
        + "01" "80" + "44" * 32 + "0101"  # metadata: 32-byte challenge, labels per unit 64
        + "01" + NODE.hex() + "01" "7c"  # node id, vrf nonce 31
    )
    assert inner.encode().hex() == expected
    assert inner.id == blake3.blake3(bytes.fromhex(expected)).digest()
    assert inner.challenge.hash == blake3.blake3(b"\x00" + inner.challenge.encode()).digest()
    atx = ATXV1.sign(inner, bytes(KEY), NODE, GENESIS)
    signed = GENESIS + b"\x00" + encode_compact(2) + inner.id  # ATX domain 0, {epoch 2, id}
    VerifyKey(NODE).verify(signed, atx.signature)
    assert atx.verify_signature(GENESIS) and not atx.verify_signature(bytes(20))
    assert ATXV1.decode(atx.encode()) == atx
    assert atx.is_first and atx.target_epoch == 3


def test_ballot_proposal_and_block_ids():
    inner = InnerBallot(25, b"\x01" * 32, b"\x02" * 32, EMPTY_BALLOT, EpochData(b"\x03" * 32, b"\xde\xad\xbe\xef", 50))
    assert inner.encode().hex() == "64" + "01" * 32 + "02" * 32 + "00" * 20 + "01" + "03" * 32 + "deadbeef" + "c8"
    votes = Votes(b"\x04" * 20, (Vote(b"\x05" * 20, 24, 100),), (), (23,))
    proofs = (VotingEligibility(0, b"\x06" * 80), VotingEligibility(7, b"\x07" * 80))
    ballot = Ballot.sign(inner, votes, proofs, bytes(KEY), NODE, GENESIS)
    assert ballot.id == blake3.blake3(inner.encode()).digest()[:20]
    msg = GENESIS + b"\x02" + encode_compact(25) + blake3.blake3(inner.encode()).digest()
    VerifyKey(NODE).verify(msg, ballot.signature)
    assert Ballot.decode(ballot.encode()) == ballot

    inner_p = InnerProposal(ballot, (b"\x08" * 32,), b"\x09" * 32)
    proposal = Proposal.sign(inner_p, bytes(KEY), GENESIS)
    signed = encode_compact(25) + blake3.blake3(inner_p.encode()).digest()
    VerifyKey(NODE).verify(GENESIS + b"\x01" + signed, proposal.signature)
    assert proposal.id == blake3.blake3(signed).digest()[:20]
    assert proposal.verify_signature(GENESIS)
    assert Proposal.decode(proposal.encode()) == proposal

    block = Block(InnerBlock(25, 1000, (AnyReward(b"\x01" * 32, RatNum(3, 2)),), (b"\x08" * 32,)))
    assert block.inner.encode().hex() == "64" "a10f" "04" + "01" * 32 + "0c08" "04" + "08" * 32
    assert block.id == blake3.blake3(block.inner.encode()).digest()[:20]


def test_truncated_and_trailing_bytes_rejected():
    raw = ATXV1.sign(first_atx(), bytes(KEY), NODE, GENESIS).encode()
    with pytest.raises(DecodeError):
        ATXV1.decode(raw[:-1])
    with pytest.raises(DecodeError, match="trailing"):
        ATXV1.decode(raw + b"\x00")
