"""The online commands (`node status`, `wallet balance`, `tx send/status/list`, `rewards`) end to end, against
the fake node of tests/core/api/test_client.py served from a background thread.

Expected addresses, ids and signatures come from tests/e2e/independent.py and the spec's K2 wallet, never
from smesh's own encoders.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import blake3
import pytest

from core.api.gen.spacemesh.v2alpha1 import node_pb2, reward_pb2
from core.tx.signing import verify as verify_tx
from core.tx.transaction import Method, SpendArgs, decode_tx
from tests.core.api.test_client import (
    GENESIS_ID,
    SPAWN_GAS,
    SPEND_GAS,
    WALLET_TEMPLATE,
    FakeAccount,
    FakeNode,
    FakeTx,
    TxType,
    free_port,
    serving,
)
from tests.core.tx.test_vectors import DEST, K2_PUB, K2B_PUB
from tests.e2e import independent as ref
from tests.e2e.helpers import one_error_line

SMH = 10**9
K2 = ref.encode(ref.principal(ref.WALLET, K2_PUB), "standalone")  # account 0 of the K2 wallet
K2B = ref.encode(ref.principal(ref.WALLET, K2B_PUB), "standalone")  # account 1
TO = ref.encode(ref.decode(DEST)[1], "standalone")


@pytest.fixture
def fake() -> FakeNode:
    return FakeNode()


@pytest.fixture
def api(fake: FakeNode) -> Iterator[str]:
    with serving(fake) as target:
        yield target


def as_json(result) -> object:  # noqa: ANN001 - tests.e2e.helpers.Result
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def check_signed_by(raw: bytes, public_key: bytes) -> None:
    """The signature is ed25519 over genesis id ‖ unsigned bytes (spec/wallet.md §3.3)."""
    assert ref.verify(public_key, GENESIS_ID + raw[:-64], raw[-64:])
    assert verify_tx(decode_tx(raw), GENESIS_ID, [public_key])


# --------------------------------------------------------------------------------------------
# node status


def test_node_status_json(cli, api):
    status = as_json(cli("--json", "node", "status", "--api", api))
    assert status == {
        "api": api,
        "version": "v1.7.6-fake",
        "network": {"hrp": "standalone", "genesisId": GENESIS_ID.hex(), "genesisTime": 1_700_000_000,
                    "layerDuration": 5.0, "layersPerEpoch": 4, "effectiveGenesisLayer": 7, "labelsPerUnit": 1024},
        "status": "SYNCED",
        "connectedPeers": 3,
        "currentLayer": 42,
        "currentEpoch": 10,
        "latestLayer": 42,
        "appliedLayer": 41,
        "processedLayer": 41,
    }


def test_node_status_table_from_the_environment(smesh, api, fake):
    fake.sync = node_pb2.NodeStatusResponse.SYNC_STATUS_SYNCING
    import os

    result = smesh("node", "status", env={**os.environ, "SMESH_API": api})
    assert result.rc == 0, result.stderr
    out = result.stdout
    for text in ("v1.7.6-fake", GENESIS_ID.hex(), "standalone", "2023-11-14 22:13:20 UTC", "42 (epoch 10)",
                 "SYNCING", "5 s each, 4 per epoch"):
        assert text in out, out


def test_node_status_without_v1_version(cli, fake):
    with serving(fake, v1=False) as target:
        status = as_json(cli("--json", "node", "status", "--api", target))
    assert status["version"] is None and status["status"] == "SYNCED"


# --------------------------------------------------------------------------------------------
# wallet balance


def test_balance_of_the_wallet_accounts(cli, api, fake, k2):
    fake.accounts[K2] = FakeAccount(balance=1_500_000_000, counter=2, template=WALLET_TEMPLATE,
                                    projected_balance=1_000_000_000, projected_counter=3)
    rows = as_json(cli("--json", "wallet", "balance", "--api", api, *k2.args()))
    assert rows == [
        {"index": 0, "address": K2, "balance": 1_500_000_000, "nonce": 2, "projectedBalance": 1_000_000_000,
         "projectedNonce": 3, "layer": 41, "spawned": True, "template": WALLET_TEMPLATE},
        {"index": 1, "address": K2B, "balance": 0, "nonce": 0, "projectedBalance": 0, "projectedNonce": 0,
         "layer": 0, "spawned": False, "template": None},
    ]
    assert list(fake.requests_of("AccountList")[0].addresses) == [K2, K2B]


def test_balance_of_addresses_in_a_table(smesh, api, fake):
    fake.accounts[TO] = FakeAccount(balance=2_250_000_000, counter=7, template=WALLET_TEMPLATE)
    result = smesh("wallet", "balance", TO.upper(), "--api", api)  # bech32 in upper case is the same address
    assert result.rc == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if TO in line)
    assert "2.25 SMH" in line and " 7 " in line and "yes" in line


def test_balance_refuses_another_networks_address(cli, api):
    result = cli("wallet", "balance", DEST, "--api", api)
    assert result.rc == 2
    assert "expected 'standalone'" in result.stderr


# --------------------------------------------------------------------------------------------
# tx send


def send_args(api: str, k2, *extra: str) -> list[str]:  # noqa: ANN001
    return ["tx", "send", "--to", TO, "--amount", "1.5smh", "--api", api, "--yes", *k2.args(), *extra]


def test_send_from_a_spawned_account_waits_for_the_result(cli, api, fake, k2):
    fake.accounts[K2] = FakeAccount(balance=10 * SMH, counter=3, template=WALLET_TEMPLATE)
    out = as_json(cli("--json", *send_args(api, k2)))
    [raw] = fake.submitted
    tx = decode_tx(raw)
    assert tx.principal == ref.decode(K2)[1] and tx.method == Method.SPEND
    assert tx.args == SpendArgs(destination=ref.decode(TO)[1], amount=1_500_000_000)
    assert (tx.nonce, tx.gas_price) == (3, 1)
    check_signed_by(raw, K2_PUB)
    tx_id = blake3.blake3(raw).digest().hex()
    assert out["id"] == tx_id and out["nonce"] == 3 and out["spawn"] is None
    assert (out["principal"], out["destination"], out["amount"]) == (K2, TO, 1_500_000_000)
    assert out["state"] == "PROCESSED"
    assert out["result"]["status"] == "SUCCESS" and out["result"]["fee"] == SPEND_GAS
    assert out["result"]["layer"] == 43
    assert fake.txs[bytes.fromhex(tx_id)].polls == fake.polls_to_apply  # it polled until the result came


def test_send_self_spawns_first(smesh, api, fake, k2):
    fake.accounts[K2] = FakeAccount(balance=10 * SMH)  # funded, never spawned
    result = smesh("tx", "send", "--to", TO, "--amount", "2smh", "--gas-price", "2", "--api", api, "--yes",
                   *k2.args())
    assert result.rc == 0, result.stderr
    spawn_raw, spend_raw = fake.submitted  # the fake refuses a spend before the spawn is applied
    spawn, spend = decode_tx(spawn_raw), decode_tx(spend_raw)
    assert spawn.method == Method.SPAWN and spawn.is_self_spawn and spawn.args.public_key == K2_PUB
    assert (spawn.nonce, spawn.gas_price) == (0, 2)
    assert (spend.nonce, spend.gas_price, spend.args.amount) == (1, 2, 2 * SMH)
    check_signed_by(spawn_raw, K2_PUB)
    check_signed_by(spend_raw, K2_PUB)
    assert "not spawned yet" in result.stdout  # the review says so
    assert f"submitted the self-spawn {blake3.blake3(spawn_raw).hexdigest()}" in result.stderr
    assert "the account is spawned" in result.stderr
    assert "SUCCESS" in result.stdout and blake3.blake3(spend_raw).hexdigest() in result.stdout


def test_send_signs_on_a_ledger_for_the_nodes_network(cli, api, fake, monkeypatch):
    from core.ledger.emulator import EmulatedLedger, EmulatorServer
    from tests.core.tx.test_vectors import K2_MNEMONIC

    fake.accounts[K2] = FakeAccount(balance=10 * SMH)  # not spawned: two transactions to approve
    device = EmulatedLedger(K2_MNEMONIC)
    with EmulatorServer(device) as server:
        monkeypatch.setenv("SMESH_LEDGER", server.selector)
        out = as_json(cli("--json", "tx", "send", "--to", TO, "--amount", "3smh", "--api", api, "--ledger"))
    assert len(device.reviews) == 2  # both approved before anything was submitted
    spawn_raw, spend_raw = fake.submitted
    check_signed_by(spawn_raw, K2_PUB)
    check_signed_by(spend_raw, K2_PUB)
    assert out["spawn"]["nonce"] == 0 and out["nonce"] == 1 and out["result"]["status"] == "SUCCESS"


def test_send_with_a_pending_spawn_waits_for_it(cli, api, fake, k2):
    fake.accounts[K2] = FakeAccount(balance=10 * SMH, projected_counter=1)
    pending = fake.add_tx(FakeTx(id=b"\x51" * 32, principal=K2, type=TxType.TRANSACTION_TYPE_SINGLE_SIG_SELFSPAWN,
                                 nonce=0, max_gas=SPAWN_GAS))
    out = as_json(cli("--json", *send_args(api, k2)))
    [raw] = fake.submitted  # no second spawn
    assert decode_tx(raw).nonce == 1
    assert out["spawn"]["id"] == pending.id.hex() and out["spawn"]["result"]["status"] == "SUCCESS"
    assert out["result"]["status"] == "SUCCESS"


def test_send_with_explicit_nonce(cli, api, fake, k2):
    fake.accounts[K2] = FakeAccount(balance=10 * SMH, counter=3, template=WALLET_TEMPLATE)
    out = as_json(cli("--json", *send_args(api, k2, "--nonce", "9", "--no-wait")))
    assert decode_tx(fake.submitted[0]).nonce == 9 and out["nonce"] == 9


def test_send_failure_exits_non_zero(smesh, api, fake, k2):
    fake.accounts[K2] = FakeAccount(balance=10 * SMH, template=WALLET_TEMPLATE)
    fake.spend_outcome = ("FAILURE", "insufficient funds")
    result = smesh(*send_args(api, k2))
    assert result.rc == 1
    assert "Traceback" not in result.stderr
    assert "FAILURE: insufficient funds" in result.stdout


def test_send_ineffectual_exits_non_zero(cli, api, fake, k2):
    fake.accounts[K2] = FakeAccount(balance=10 * SMH, template=WALLET_TEMPLATE)
    fake.spend_outcome = ("INEFFECTUAL", "")
    result = cli("--json", *send_args(api, k2))
    assert result.rc == 1
    out = json.loads(result.stdout)
    assert out["state"] == "INEFFECTUAL" and out["result"] is None


def test_send_no_wait(cli, api, fake, k2):
    fake.accounts[K2] = FakeAccount(balance=10 * SMH, template=WALLET_TEMPLATE)
    out = as_json(cli("--json", *send_args(api, k2, "--no-wait")))
    assert out["state"] == "MEMPOOL" and out["result"] is None
    [tx] = fake.txs.values()
    assert tx.polls <= 1


def test_send_rejected(smesh, api, fake, k2):
    fake.accounts[K2] = FakeAccount(balance=10 * SMH, template=WALLET_TEMPLATE)
    fake.reject = "insufficient balance"
    line = one_error_line(smesh(*send_args(api, k2)))
    assert line == "error: the node rejected the transaction: insufficient balance"


def test_send_not_synced(cli, api, fake, k2):
    fake.accounts[K2] = FakeAccount(balance=10 * SMH, template=WALLET_TEMPLATE)
    fake.sync = node_pb2.NodeStatusResponse.SYNC_STATUS_SYNCING
    result = cli(*send_args(api, k2))
    assert result.rc == 1
    assert "the node is not synced yet" in one_error_line(result)


def test_send_times_out_naming_the_tx(cli, api, fake, k2):
    fake.accounts[K2] = FakeAccount(balance=10 * SMH, template=WALLET_TEMPLATE)
    fake.polls_to_apply = 10**6
    result = cli("--json", *send_args(api, k2, "--timeout", "1"))
    assert result.rc == 1
    [line] = result.stderr.splitlines()  # --json: notes are silent, the error is one JSON line
    tx_id = blake3.blake3(fake.submitted[0]).hexdigest()
    message = json.loads(line)["error"]
    assert tx_id in message and "may still be applied" in message
    assert result.stdout == ""


def test_send_asks_unless_yes(cli, api, fake, k2):
    fake.accounts[K2] = FakeAccount(balance=10 * SMH, template=WALLET_TEMPLATE)
    args = [a for a in send_args(api, k2) if a != "--yes"]
    result = cli(*args)  # stdin is not a terminal
    assert result.rc == 2 and "--yes" in one_error_line(result)
    assert fake.submitted == []


def test_send_to_another_network_is_refused_before_signing(cli, api, fake, k2):
    result = cli("tx", "send", "--to", DEST, "--amount", "1", "--api", api, "--yes", *k2.args())
    assert result.rc == 2 and "expected 'standalone'" in one_error_line(result)
    assert fake.submitted == []


# --------------------------------------------------------------------------------------------
# tx status and tx list


def history(fake: FakeNode) -> None:
    """K2 sent to TO in layers 10 and 12; K2b received from TO in layer 11; one K2 spend is pending."""
    send = TxType.TRANSACTION_TYPE_SINGLE_SIG_SEND
    fake.add_tx(FakeTx(id=b"\x10" * 32, principal=K2, type=send, nonce=0, destination=TO, amount=5), layer=10)
    fake.add_tx(FakeTx(id=b"\x11" * 32, principal=TO, type=send, nonce=0, destination=K2B, amount=6), layer=11)
    fake.add_tx(FakeTx(id=b"\x12" * 32, principal=K2, type=send, nonce=1, destination=TO, amount=7), layer=12,
                status=2, message="insufficient funds")
    fake.add_tx(FakeTx(id=b"\x13" * 32, principal=K2, type=send, nonce=2, destination=TO, amount=8))
    fake.polls_to_apply = 10**6


def test_tx_status(cli, api, fake):
    history(fake)
    out = as_json(cli("--json", "tx", "status", "12" * 32, "--api", api))
    assert (out["id"], out["principal"], out["nonce"], out["destination"], out["amount"]) == ("12" * 32, K2, 1, TO, 7)
    assert out["state"] == "PROCESSED"
    assert out["result"] == {"status": "FAILURE", "message": "insufficient funds", "gasConsumed": SPEND_GAS,
                             "fee": SPEND_GAS, "layer": 12, "block": "bb" * 20, "touchedAddresses": []}
    pending = as_json(cli("--json", "tx", "status", "0x" + "13" * 32, "--api", api))
    assert pending["state"] == "MEMPOOL" and pending["result"] is None


def test_tx_status_human_and_unknown(smesh, api, fake):
    history(fake)
    result = smesh("tx", "status", "12" * 32, "--api", api)
    assert result.rc == 0, result.stderr
    assert "FAILURE: insufficient funds" in result.stdout and "12" * 32 in result.stdout
    unknown = smesh("tx", "status", "ab" * 32, "--api", api)
    assert unknown.rc == 1
    assert "ab" * 32 in one_error_line(unknown)
    assert smesh("tx", "status", "abcd", "--api", api).rc == 2  # not 32 bytes


def test_tx_list_of_an_address(cli, api, fake):
    history(fake)
    rows = as_json(cli("--json", "tx", "list", K2, "--api", api))
    assert [r["id"] for r in rows] == ["13" * 32, "12" * 32, "10" * 32]  # pending first, then newest
    page = as_json(cli("--json", "tx", "list", K2, "--limit", "1", "--offset", "1", "--api", api))
    assert [r["id"] for r in page] == ["12" * 32]


def test_tx_list_of_the_wallet_merges_accounts(cli, api, fake, k2):
    history(fake)
    rows = as_json(cli("--json", "tx", "list", "--api", api, *k2.args()))
    assert [r["id"] for r in rows] == ["13" * 32, "12" * 32, "11" * 32, "10" * 32]
    page = as_json(cli("--json", "tx", "list", "--limit", "2", "--offset", "1", "--api", api, *k2.args()))
    assert [r["id"] for r in page] == ["12" * 32, "11" * 32]


# --------------------------------------------------------------------------------------------
# rewards


def reward_history(fake: FakeNode) -> None:
    fake.rewards = [
        reward_pb2.Reward(layer=20, total=1_000_000_100, layer_reward=1_000_000_000, coinbase=K2, smesher=b"\x01" * 32),
        reward_pb2.Reward(layer=21, total=2 * SMH, layer_reward=2 * SMH, coinbase=K2B, smesher=b"\x02" * 32),
        reward_pb2.Reward(layer=22, total=500_000_000, layer_reward=500_000_000, coinbase=K2, smesher=b"\x01" * 32),
    ]


def test_rewards_of_an_address(cli, api, fake):
    reward_history(fake)
    rows = as_json(cli("--json", "rewards", K2, "--api", api))
    assert rows == [
        {"layer": 22, "total": 500_000_000, "layerReward": 500_000_000, "coinbase": K2, "smesher": "01" * 32},
        {"layer": 20, "total": 1_000_000_100, "layerReward": 1_000_000_000, "coinbase": K2, "smesher": "01" * 32},
    ]
    by_smesher = as_json(cli("--json", "rewards", "--smesher", "02" * 32, "--api", api))
    assert [r["layer"] for r in by_smesher] == [21]
    assert cli("rewards", K2, "--smesher", "02" * 32, "--api", api).rc == 2


def test_rewards_table_with_total_for_the_wallet(smesh, api, fake, k2):
    reward_history(fake)
    result = smesh("rewards", "--api", api, *k2.args())
    assert result.rc == 0, result.stderr
    assert "total: 3.5000001 SMH (3500000100 smidge) in 3 reward(s)" in result.stdout
    layers = [line.split()[1] for line in result.stdout.splitlines() if K2 in line or K2B in line]
    assert layers == ["22", "21", "20"]


# --------------------------------------------------------------------------------------------
# errors


def test_unreachable_node_is_one_line(smesh):
    api = f"127.0.0.1:{free_port()}"
    for args in (["node", "status"], ["tx", "status", "00" * 32], ["rewards", DEST]):
        result = smesh(*args, "--api", api)
        assert result.rc == 1
        assert one_error_line(result) == f"error: cannot reach the node API at {api} (is `smesh node run` running?)"


def test_bad_api_is_a_usage_error(cli):
    for bad in ("localhost", "host:port", "1.2.3.4:70000"):
        result = cli("node", "status", "--api", bad)
        assert result.rc == 2
        assert one_error_line(result).startswith("error: Invalid value for '--api'")
