"""`smesh tx ...` end to end: the signed transactions of spec/wallet.md §5.4 byte for byte, multisig
flows across co-signers, decoding inputs, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import blake3
import pytest

from tests.core.tx.test_vectors import (
    DEST,
    GENESIS,
    K2_PUB,
    K2B_PUB,
    MS_PART0,
    MS_PART1,
    MS_UNSIGNED,
    SPAWN_SIG,
    SPAWN_UNSIGNED,
    SPEND_SIG,
    SPEND_UNSIGNED,
)
from tests.e2e import independent as ref
from tests.e2e.helpers import one_error_line

SPAWN = SPAWN_UNSIGNED + SPAWN_SIG
SPEND = SPEND_UNSIGNED + SPEND_SIG
MS_SPEND = MS_UNSIGNED + MS_PART0 + MS_PART1
SPAWN_ID = "c7a726a6fba8206448e9dbccdeb64458d978fd5368f68008968dbaace7a81176"  # §5.4
SPEND_ID = "b6c0ef02f25504a98cc2237e6ec9f75c95c72c49b804a94cda84282488f9d884"
MS_ID = "5b16555eb2e2f180008c9d126883b90db6a66fe7ab1a325a79e52856077b5d5b"
TESTNET_GENESIS = bytes.fromhex("e956eff99be943fb70bd385dd509a3f84e9a75dd")  # §3.3
K2_SM = "sm1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8q2gdz9k"
K2_STEST = "stest1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8qha56t0"
MULTISIG_2OF2 = "sm1qqqqqqr9jx5vzt3ydly4qq9eq4t2q36t2aajrvg8j33x3"
DEST_STEST = ref.encode(ref.decode(DEST)[1], "stest")
KEYS = ["--key", K2_PUB.hex(), "--key", K2B_PUB.hex()]

# a 1-of-2 vesting account [K2, K2b]: SCALE args = compact(1) ‖ compact(2) ‖ keys
VESTING_ARGS = bytes.fromhex("0408") + K2_PUB + K2B_PUB
VESTING = ref.principal(ref.VESTING, VESTING_ARGS)


def only_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def decoded(cli, *args: str) -> dict:
    result = cli("--json", "tx", "decode", *args)
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def decoded_via_file(cli, directory: Path, hex_tx: str, *args: str) -> dict:
    """Decode hex written to a file (hex arguments of 128+ bytes hit the bug in test_long_hex_argument)."""
    path = directory / "tx.hex"
    path.write_text(hex_tx + "\n")
    return decoded(cli, str(path), *args)


# --------------------------------------------------------------------------------------------
# §5.4 wallet transactions


def test_spawn_prints_spec_transaction(cli, k2):
    result = cli("tx", "spawn", *k2.args())
    assert result.rc == 0, result.stderr
    assert only_line(result.stdout) == SPAWN


@pytest.mark.parametrize("amount", ["1smh", "1000000000", "1.0 SMH", "1_000_000_000smidge"])
def test_spend_prints_spec_transaction(cli, k2, amount):
    result = cli("tx", "spend", *k2.args(), "--to", DEST, "--amount", amount, "--nonce", "1")
    assert result.rc == 0, result.stderr
    assert only_line(result.stdout) == SPEND


def test_spend_json(cli, k2):
    result = cli("--json", "tx", "spend", *k2.args(), "--to", DEST, "--amount", "1smh", "--nonce", "1")
    assert result.rc == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["id"] == SPEND_ID
    assert data["maxGas"] == 36090
    assert data["fee"] == 36090
    assert data["principal"] == K2_SM
    assert data["nonce"] == 1
    assert data["gasPrice"] == 1
    assert data["raw"] == SPEND
    assert data["size"] == 120
    assert data["arguments"] == {"destination": DEST, "amount": 10**9}


def test_spend_gas_price_scales_fee(cli, k2):
    data = json.loads(cli("--json", "tx", "spend", *k2.args(), "--to", DEST, "--amount", "1smh", "--nonce", "1",
                          "--gas-price", "3").stdout)
    assert data["gasPrice"] == 3
    assert data["maxGas"] == 36090  # compact(3) is one byte like compact(1): same size, same gas
    assert data["fee"] == 3 * 36090
    raw = bytes.fromhex(data["raw"])
    unsigned = bytes.fromhex(SPEND_UNSIGNED)
    assert raw[:-64] == unsigned[:27] + b"\x0c" + unsigned[28:]  # only the gas price byte differs
    assert ref.verify(K2_PUB, GENESIS + raw[:-64], raw[-64:])


def test_spend_from_second_account_on_testnet(cli, k2):
    data = json.loads(cli("--json", "tx", "spend", *k2.args(), "--account", "1", "--network", "testnet",
                          "--to", DEST_STEST, "--amount", "5", "--nonce", "0").stdout)
    assert data["principal"] == ref.encode(ref.principal(ref.WALLET, K2B_PUB), "stest")
    raw = bytes.fromhex(data["raw"])
    assert ref.verify(K2B_PUB, TESTNET_GENESIS + raw[:-64], raw[-64:])
    assert not ref.verify(K2B_PUB, GENESIS + raw[:-64], raw[-64:])


# --------------------------------------------------------------------------------------------
# multisig: each co-signer signs, one combines


def test_multisig_spend_flow(cli, k2):
    first = cli("--json", "tx", "multisig-spend", "--required", "2", *KEYS, "--to", DEST, "--amount", "1smh",
                "--nonce", "0", *k2.args())
    assert first.rc == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["unsigned"] == MS_UNSIGNED
    assert data["required"] == 2
    assert data["parts"] == [{"ref": 0, "hex": MS_PART0}]
    assert data["transaction"]["principal"] == MULTISIG_2OF2
    assert data["transaction"]["maxGas"] == 40970

    second = cli("tx", "sign", data["unsigned"], *KEYS, "--account", "1", *k2.args())
    assert second.rc == 0, second.stderr
    part1 = only_line(second.stdout)
    assert part1 == MS_PART1

    combined = cli("tx", "combine", data["unsigned"], "--part", part1, "--part", data["parts"][0]["hex"],
                   "--required", "2", *KEYS)
    assert combined.rc == 0, combined.stderr
    assert only_line(combined.stdout) == MS_SPEND

    as_json = json.loads(cli("--json", "tx", "combine", MS_UNSIGNED, "--part", MS_PART0, "--part", MS_PART1,
                             "--required", "2", *KEYS).stdout)
    assert as_json["id"] == MS_ID
    assert as_json["size"] == 186
    assert as_json["maxGas"] == 40970
    assert [p["ref"] for p in as_json["parts"]] == [0, 1]


def test_multisig_spend_human_output(smesh, k2):
    result = smesh("tx", "multisig-spend", "--required", "2", *KEYS, "--to", DEST, "--amount", "1smh",
                   "--nonce", "0", *k2.args())
    assert result.rc == 0, result.stderr
    assert f"unsigned: {MS_UNSIGNED}" in result.stdout
    assert MS_PART0 in result.stdout
    assert "1 more" in result.stderr


def test_sign_by_ref(cli, k2):
    result = cli("tx", "sign", MS_UNSIGNED, "--ref", "1", "--account", "1", *k2.args())
    assert result.rc == 0, result.stderr
    assert only_line(result.stdout) == MS_PART1


def test_part_from_another_network_is_rejected(cli, smesh, k2):
    testnet = cli("tx", "sign", MS_UNSIGNED, *KEYS, "--account", "1", "--network", "testnet", *k2.args())
    assert testnet.rc == 0, testnet.stderr
    part = bytes.fromhex(only_line(testnet.stdout))
    assert part[0] == 1 << 2  # compact ref 1
    assert ref.verify(K2B_PUB, TESTNET_GENESIS + bytes.fromhex(MS_UNSIGNED), part[1:])
    assert part.hex() != MS_PART1

    mixed = smesh("tx", "combine", MS_UNSIGNED, "--part", part.hex(), "--part", MS_PART0, "--required", "2", *KEYS)
    assert "ref 1" in one_error_line(mixed)
    assert mixed.stdout == ""
    # the same parts checked against testnet: now the mainnet part 0 is the odd one out
    on_testnet = smesh("tx", "combine", MS_UNSIGNED, "--part", part.hex(), "--part", MS_PART0, "--required", "2",
                       *KEYS, "--network", "testnet")
    assert "ref 0" in one_error_line(on_testnet)


def test_combine_needs_enough_distinct_parts(smesh):
    one_error_line(smesh("tx", "combine", MS_UNSIGNED, "--part", MS_PART0, "--required", "2", *KEYS))
    one_error_line(smesh("tx", "combine", MS_UNSIGNED, "--part", MS_PART0, "--part", MS_PART0,
                         "--required", "2", *KEYS))
    one_error_line(smesh("tx", "combine", MS_UNSIGNED, "--part", MS_PART0[:-2], "--required", "1"))


def test_multisig_self_spawn_2_of_2(cli, k2, tmp_path):
    first = json.loads(cli("--json", "tx", "multisig-spawn", "--required", "2", *KEYS, *k2.args()).stdout)
    second = cli("tx", "sign", first["unsigned"], *KEYS, "--account", "1", *k2.args())
    assert second.rc == 0, second.stderr
    combined = cli("tx", "combine", first["unsigned"], "--part", first["parts"][0]["hex"],
                   "--part", only_line(second.stdout), "--required", "2", *KEYS)
    assert combined.rc == 0, combined.stderr
    raw = only_line(combined.stdout)
    expected_unsigned = (
        b"\x00" + ref.decode(MULTISIG_2OF2)[1] + b"\x00" + ref.template_address(ref.MULTISIG)
        + b"\x00\x04" + b"\x08\x08" + K2_PUB + K2B_PUB
    )
    assert raw.startswith(expected_unsigned.hex())
    fields = decoded_via_file(cli, tmp_path, raw)
    assert fields["size"] == 248
    assert fields["maxGas"] == 124968  # §5.4
    assert fields["selfSpawn"] is True
    assert fields["template"] == "multisig"
    assert fields["principal"] == MULTISIG_2OF2
    assert fields["arguments"] == {"required": 2, "publicKeys": [K2_PUB.hex(), K2B_PUB.hex()]}


# --------------------------------------------------------------------------------------------
# vesting and vault


def test_vesting_self_spawn(cli, k2, tmp_path):
    result = cli("tx", "multisig-spawn", "--vesting", "--required", "1", *KEYS, *k2.args())
    assert result.rc == 0, result.stderr
    raw = bytes.fromhex(only_line(result.stdout))
    unsigned = b"\x00" + VESTING + b"\x00" + ref.template_address(ref.VESTING) + b"\x00\x04" + VESTING_ARGS
    assert raw[: len(unsigned)] == unsigned
    assert raw[len(unsigned)] == 0  # one part, ref 0
    assert len(raw) == len(unsigned) + 65
    assert ref.verify(K2_PUB, GENESIS + unsigned, raw[-64:])
    fields = decoded_via_file(cli, tmp_path, raw.hex())
    assert fields["template"] == "vesting"
    assert fields["method"] == "spawn"
    assert fields["selfSpawn"] is True
    assert fields["principal"] == ref.encode(VESTING, "sm")
    assert fields["arguments"] == {"required": 1, "publicKeys": [K2_PUB.hex(), K2B_PUB.hex()]}
    assert fields["parts"] == [{"ref": 0, "signature": raw[-64:].hex()}]


# vault owned by the vesting account: 100 SMH, 10 SMH initially, layers 100..1000
VAULT_SCALE = (
    VESTING
    + bytes.fromhex("0700e8764817")  # compact 10^11: big mode, 5 bytes
    + bytes.fromhex("0700e40b5402")  # compact 10^10
    + bytes.fromhex("9101")  # compact 100
    + bytes.fromhex("a10f")  # compact 1000
)
VAULT = ref.principal(ref.VAULT, VAULT_SCALE)


def test_vault_spawn_by_vesting_account(cli, k2, tmp_path):
    result = cli("tx", "vault-spawn", "--required", "1", *KEYS, "--total", "100smh", "--initial", "10smh",
                 "--start", "100", "--end", "1000", "--nonce", "1", *k2.args())
    assert result.rc == 0, result.stderr
    raw = bytes.fromhex(only_line(result.stdout))
    unsigned = b"\x00" + VESTING + b"\x00" + ref.template_address(ref.VAULT) + b"\x04\x04" + VAULT_SCALE
    assert raw[:-65] == unsigned
    assert raw[-65] == 0
    assert ref.verify(K2_PUB, GENESIS + unsigned, raw[-64:])
    fields = decoded_via_file(cli, tmp_path, raw.hex())
    assert fields["template"] == "vault"
    assert fields["method"] == "spawn"
    assert fields["selfSpawn"] is False
    assert fields["principal"] == ref.encode(VESTING, "sm")
    assert fields["nonce"] == 1
    assert fields["arguments"] == {
        "owner": ref.encode(VESTING, "sm"),
        "totalAmount": 10**11,
        "initialUnlockAmount": 10**10,
        "vestingStart": 100,
        "vestingEnd": 1000,
    }
    # the vault address the wallet computes is the one this spawn creates
    address = cli("wallet", "address", "--vault-owner", ref.encode(VESTING, "sm"), "--total", "100smh",
                  "--initial", "10smh", "--start", "100", "--end", "1000")
    assert only_line(address.stdout) == ref.encode(VAULT, "sm")


def test_vault_spawn_by_wallet_with_owner(cli, k2, tmp_path):
    result = cli("--json", "tx", "vault-spawn", "--total", "1000", "--end", "10", "--nonce", "2", "--owner", DEST,
                 "--gas-price", "2", *k2.args())
    assert result.rc == 0, result.stderr
    data = json.loads(result.stdout)
    fields = decoded_via_file(cli, tmp_path, data["raw"])
    assert fields["principal"] == K2_SM
    assert fields["template"] == "vault"
    assert fields["gasPrice"] == 2
    assert fields["arguments"] == {"owner": DEST, "totalAmount": 1000, "initialUnlockAmount": 0,
                                   "vestingStart": 0, "vestingEnd": 10}
    raw = bytes.fromhex(data["raw"])
    assert ref.verify(K2_PUB, GENESIS + raw[:-64], raw[-64:])


def test_drain(cli, k2, tmp_path):
    result = cli("tx", "drain", "--vault", ref.encode(VAULT, "sm"), "--to", DEST, "--amount", "5smh",
                 "--nonce", "2", "--required", "1", *KEYS, *k2.args())
    assert result.rc == 0, result.stderr
    raw = bytes.fromhex(only_line(result.stdout))
    unsigned = (
        b"\x00" + VESTING + b"\x44"  # method 17 (drain)
        + b"\x08\x04"  # nonce 2, gas price 1
        + VAULT + ref.decode(DEST)[1]
        + bytes.fromhex("0700f2052a01")  # compact 5 * 10^9
    )
    assert raw[:-65] == unsigned
    assert ref.verify(K2_PUB, GENESIS + unsigned, raw[-64:])
    fields = decoded_via_file(cli, tmp_path, raw.hex(), "--hrp", "stest")
    assert fields["method"] == "drain"
    assert fields["principal"] == ref.encode(VESTING, "stest")
    assert fields["arguments"] == {
        "vault": ref.encode(VAULT, "stest"),
        "destination": DEST_STEST,
        "amount": 5 * 10**9,
    }
    assert fields["maxSpend"] == 0  # §3.5: MaxSpend is 0 for drain


def test_drain_unsigned_then_sign(cli, k2):
    result = cli("tx", "drain", "--vault", ref.encode(VAULT, "sm"), "--to", DEST, "--amount", "5smh",
                 "--nonce", "2", "--required", "2", *KEYS, "--unsigned", *k2.args())
    assert result.rc == 0, result.stderr
    assert "part" not in result.stdout
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("unsigned: ")]
    assert len(line) == 1
    unsigned = line[0].removeprefix("unsigned: ")
    fields = decoded(cli, unsigned, "--unsigned")
    assert fields["signed"] is False
    assert fields["id"] is None
    assert fields["method"] == "drain"


# --------------------------------------------------------------------------------------------
# decode and fee


def test_decode_hex_argument(cli):
    fields = decoded(cli, SPEND)
    assert fields["id"] == SPEND_ID
    assert fields["principal"] == K2_SM
    assert fields["method"] == "spend"
    assert fields["nonce"] == 1
    assert fields["arguments"] == {"destination": DEST, "amount": 10**9}
    assert fields["signature"] == SPEND_SIG
    assert fields["maxSpend"] == 10**9
    assert fields["maxGas"] == 36090
    assert decoded(cli, "0x" + SPEND.upper())["id"] == SPEND_ID


def test_decode_spawn(cli, tmp_path):
    fields = decoded_via_file(cli, tmp_path, SPAWN)
    assert fields["id"] == SPAWN_ID
    assert fields["selfSpawn"] is True
    assert fields["template"] == "wallet"
    assert fields["arguments"] == {"publicKey": K2_PUB.hex()}
    assert fields["maxGas"] == 100432


def test_decode_multisig(cli, tmp_path):
    fields = decoded_via_file(cli, tmp_path, MS_SPEND, "--keys", "2")
    assert fields["id"] == MS_ID
    assert fields["principal"] == MULTISIG_2OF2
    assert fields["maxGas"] == 40970
    assert fields["parts"] == [{"ref": 0, "signature": MS_PART0[2:]}, {"ref": 1, "signature": MS_PART1[2:]}]


def test_decode_hex_file_binary_file_and_stdin(cli, smesh, tmp_path):
    hex_file = tmp_path / "spend.hex"
    hex_file.write_text(SPEND + "\n")
    assert decoded(cli, str(hex_file))["id"] == SPEND_ID
    bin_file = tmp_path / "spend.bin"
    bin_file.write_bytes(bytes.fromhex(SPEND))
    assert decoded(cli, str(bin_file))["id"] == SPEND_ID
    for stdin in (SPEND.encode() + b"\n", bytes.fromhex(SPEND)):
        result = smesh("--json", "tx", "decode", "-", stdin=stdin)
        assert result.rc == 0, result.stderr
        assert json.loads(result.stdout)["id"] == SPEND_ID
    piped = smesh("--json", "tx", "decode", stdin=SPEND.encode())  # no argument: stdin
    assert json.loads(piped.stdout)["raw"] == SPEND


def test_decode_unsigned_and_hrp(cli):
    fields = decoded(cli, SPEND_UNSIGNED, "--unsigned", "--hrp", "stest")
    assert fields["signed"] is False
    assert fields["id"] is None
    assert fields["principal"] == K2_STEST
    assert fields["arguments"]["destination"] == DEST_STEST
    assert fields["raw"] == SPEND_UNSIGNED


def test_decode_human(smesh):
    result = smesh("tx", "decode", SPEND)
    assert result.rc == 0, result.stderr
    assert SPEND_ID in result.stdout
    assert DEST in result.stdout
    assert "36090" in result.stdout


def test_fee(cli, tmp_path):
    result = cli("tx", "fee", SPEND)
    assert result.rc == 0, result.stderr
    assert "36090" in result.stdout
    data = json.loads(cli("--json", "tx", "fee", SPEND).stdout)
    assert data == {"maxGas": 36090, "gasPrice": 1, "fee": 36090, "maxSpend": 10**9}
    # an unsigned spend is priced as it will be once signed
    assert json.loads(cli("--json", "tx", "fee", SPEND_UNSIGNED, "--unsigned").stdout)["maxGas"] == 36090
    (tmp_path / "spawn.hex").write_text(SPAWN)
    assert json.loads(cli("--json", "tx", "fee", tmp_path / "spawn.hex").stdout)["maxGas"] == 100432
    (tmp_path / "ms.bin").write_bytes(bytes.fromhex(MS_SPEND))
    assert json.loads(cli("--json", "tx", "fee", tmp_path / "ms.bin", "--keys", "2").stdout)["maxGas"] == 40970
    unsigned_ms = cli("--json", "tx", "fee", MS_UNSIGNED, "--unsigned", "--keys", "2", "--required", "2")
    assert json.loads(unsigned_ms.stdout)["maxGas"] == 40970


@pytest.mark.parametrize("command", ["decode", "fee"])
def test_long_hex_argument(cli, command):
    """Transactions of 128 bytes and more (self-spawns, multisig) given as a hex argument."""
    for hex_tx, expected_gas in ((SPAWN, 100432), (MS_SPEND, 40970)):
        extra = ["--keys", "2"] if hex_tx == MS_SPEND else []
        result = cli("--json", "tx", command, hex_tx, *extra)
        assert result.rc == 0, result.stderr
        assert json.loads(result.stdout)["maxGas"] == expected_gas


@pytest.mark.parametrize(
    "text",
    [
        "zz",
        "not a transaction",
        SPEND[:-4],  # truncated signature
        SPEND[:40],  # truncated principal
        SPEND + "00",  # trailing byte
        SPEND + "0",  # odd-length hex
        "01" + SPEND[2:],  # version 1
        "00" * 1100,  # over the 1024-byte maximum
        "",
    ],
    ids=["garbage", "words", "truncated-sig", "truncated-principal", "too-long", "odd-length", "version",
         "oversize", "empty"],
)
def test_decode_errors(smesh, text):
    one_error_line(smesh("tx", "decode", text))


def test_decode_error_for_unsigned_given_as_signed(smesh):
    one_error_line(smesh("tx", "decode", MS_UNSIGNED))


def test_decode_missing_file(smesh, tmp_path):
    one_error_line(smesh("tx", "decode", tmp_path / "nope.hex"))


def test_decode_garbage_binary_file(smesh, tmp_path):
    path = tmp_path / "junk.bin"
    path.write_bytes(b"\xff\xfe\x00\x01" * 10)
    one_error_line(smesh("tx", "decode", path))


# --------------------------------------------------------------------------------------------
# input errors of builders


def test_spend_to_testnet_address_on_mainnet(smesh, k2):
    line = one_error_line(smesh("tx", "spend", *k2.args(), "--to", DEST_STEST, "--amount", "1smh", "--nonce", "1"))
    assert "stest" in line


@pytest.mark.parametrize(
    "args, words",
    [
        (["--amount", "1.0000000001smh"], ["amount"]),
        (["--amount", "-1"], ["amount"]),
        (["--amount", "1smh", "--gas-price", "0"], ["gas-price"]),
        (["--amount", "18446744073709551616"], ["amount"]),
    ],
    ids=["sub-smidge", "negative", "gas-price-0", "over-u64"],
)
def test_spend_rejects_bad_numbers(smesh, k2, args, words):
    result = smesh("tx", "spend", *k2.args(), "--to", DEST, "--nonce", "1", *args)
    line = one_error_line(result)
    assert all(w in line for w in words), line
    assert result.stdout == ""


def test_standalone_needs_genesis(smesh, k2):
    line = one_error_line(smesh("tx", "spawn", *k2.args(), "--network", "standalone"))
    assert "--genesis-time" in line or "--genesis-id" in line


def test_standalone_with_genesis_time(cli, k2):
    genesis_time = 1700000000
    # §3.3: genesis id = BLAKE3(decimal seconds ‖ extra data)[:20], extra data "standalone"
    genesis = blake3.blake3(f"{genesis_time}standalone".encode()).digest()[:20]
    result = cli("--json", "tx", "spawn", *k2.args(), "--network", "standalone", "--genesis-time", str(genesis_time))
    assert result.rc == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["principal"] == ref.encode(ref.principal(ref.WALLET, K2_PUB), "standalone")
    raw = bytes.fromhex(data["raw"])
    assert raw[:-64].hex() == SPAWN_UNSIGNED
    assert ref.verify(K2_PUB, genesis + raw[:-64], raw[-64:])
    by_id = cli("--json", "tx", "spawn", *k2.args(), "--network", "standalone", "--genesis-id", genesis.hex())
    assert json.loads(by_id.stdout)["raw"] == data["raw"]


def test_genesis_id_override(cli, k2):
    result = cli("tx", "spawn", *k2.args(), "--genesis-id", GENESIS.hex())
    assert only_line(result.stdout) == SPAWN


@pytest.mark.parametrize("genesis_id", [GENESIS.hex()[:-2], GENESIS.hex() + "00", "xy" * 20])
def test_genesis_id_of_wrong_length(smesh, k2, genesis_id):
    line = one_error_line(smesh("tx", "spawn", *k2.args(), "--genesis-id", genesis_id))
    assert "genesis id" in line


def test_unknown_network(smesh, k2):
    line = one_error_line(smesh("tx", "spawn", *k2.args(), "--network", "moonnet"))
    assert "moonnet" in line


def test_multisig_spend_by_a_non_member(smesh, k2):
    other = ref.slip10_key("abandon " * 11 + "about", 0).verify_key.encode().hex()
    result = smesh("tx", "multisig-spend", "--required", "1", "--key", K2B_PUB.hex(), "--key", other,
                   "--to", DEST, "--amount", "1", "--nonce", "0", *k2.args())
    assert "--unsigned" in one_error_line(result)


def test_empty_input_says_no_transaction(smesh):
    assert "no transaction given" in one_error_line(smesh("tx", "decode", "-", stdin=b""))
