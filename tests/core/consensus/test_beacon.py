import blake3
from nacl.signing import SigningKey

from core.consensus.beacon import BeaconProtocol, Participant, ProposalMessage, genesis_beacon, proposal_threshold

GENESIS = bytes(range(20))
KEYS = [SigningKey(bytes([i + 1]) * 32) for i in range(4)]
IDS = [bytes(k.verify_key) for k in KEYS]
PARTICIPANTS = {node: Participant(weight=10 * (i + 1), vrf_nonce=i, num_units=i + 1) for i, node in enumerate(IDS)}


def test_genesis_beacon():
    assert genesis_beacon(GENESIS) == bytes([0, 1, 2, 3])


def test_threshold_formula():
    # N = 60: exponent -40 / ((2/3) * 60) = -1, so half of the 640-bit range qualifies
    assert proposal_threshold(60) == 2**639
    # N = 4: -40 / (8/3) = -15
    assert proposal_threshold(4) == 2**640 - 2**625
    # N = 7: -60/7, not whole; compare with floating point to its precision
    expected = 1 - 2 ** (-60 / 7)
    assert abs(proposal_threshold(7) / 2**640 - expected) < 1e-15


def run(epoch: int, drop: dict[int, set[int]] | None = None) -> list[bytes]:
    """All four participants run the protocol; drop[i] = proposals node i does not receive."""
    nodes = [BeaconProtocol(epoch, GENESIS, PARTICIPANTS) for _ in KEYS]
    proposals = [n.make_proposal(bytes(k), node_id) for n, k, node_id in zip(nodes, KEYS, IDS)]
    for i, node in enumerate(nodes):
        for j, p in enumerate(proposals):
            if p is not None and j not in (drop or {}).get(i, set()):
                assert node.on_proposal(p)
    votes = [n.make_vote(bytes(k), node_id) for n, k, node_id in zip(nodes, KEYS, IDS)]
    coins = [c for n, k, node_id in zip(nodes, KEYS, IDS) for c in n.make_coins(bytes(k), node_id)]
    for node in nodes:
        for v in votes:
            assert node.on_vote(v)
        for c in coins:
            assert node.on_coin(c)
    return [n.beacon() for n in nodes], nodes


def test_all_nodes_agree_and_beacon_is_hash_of_supported_proposals():
    beacons, nodes = run(epoch=3)
    assert len(set(beacons)) == 1
    supported = nodes[0].supported()
    assert supported == sorted(supported) and supported
    assert beacons[0] == blake3.blake3(b"".join(supported)).digest()[:4]
    assert run(epoch=4)[0][0] != beacons[0]  # a new epoch gives a new beacon


def test_a_proposal_most_weight_saw_is_kept_even_by_a_node_that_missed_it():
    beacons, nodes = run(epoch=3, drop={0: {3}})
    assert len(set(beacons)) == 1
    assert len(nodes[0].supported()) == len(run(epoch=3)[1][0].supported())


def test_invalid_messages_are_refused():
    node = BeaconProtocol(3, GENESIS, PARTICIPANTS)
    proposal = BeaconProtocol(3, GENESIS, PARTICIPANTS).make_proposal(bytes(KEYS[0]), IDS[0])
    assert not node.on_proposal(ProposalMessage(3, IDS[1], proposal.vrf))  # someone else's VRF
    assert not node.on_proposal(proposal, timely=False)
    outsider = SigningKey(b"\x77" * 32)
    assert node.make_proposal(bytes(outsider), bytes(outsider.verify_key)) is None
    vote = node.make_vote(bytes(KEYS[0]), IDS[0])
    forged = vote.__class__(vote.body, IDS[1], vote.signature)
    assert not node.on_vote(forged)
    assert node.on_vote(vote) and not node.on_vote(vote)  # one list per participant
