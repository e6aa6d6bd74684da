"""`smesh ledger ...`, `wallet create --ledger` and `tx ... --ledger` end to end, against the
emulated Spacemesh app over TCP (Speculos framing).  Ed25519 is deterministic, so a device holding
the K2 mnemonic must produce the signed transactions of spec/wallet.md §5.4 byte for byte."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from core.ledger.emulator import EmulatedLedger, EmulatorServer
from core.wallet.walletfile import read_wallet
from tests.core.tx.test_vectors import (
    DEST,
    GENESIS,
    K2_MNEMONIC,
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
from tests.e2e.helpers import PASSWORD, SMESH, WIDE, one_error_line

SPAWN = SPAWN_UNSIGNED + SPAWN_SIG
SPEND = SPEND_UNSIGNED + SPEND_SIG
K2_SM = "sm1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8q2gdz9k"
K2B_SM = "sm1qqqqqqygmz2nnr7ush67yx7g4mmksm979m3a0xcphk3pt"
KEYS = ["--key", K2_PUB.hex(), "--key", K2B_PUB.hex()]
SPEND_ARGS = ["--to", DEST, "--amount", "1smh", "--nonce", "1"]
K2_PATH = bytes.fromhex("2c000080" "1c020080" "00000080" "00000080" "00000080")
ABANDON = "abandon " * 11 + "about"


def only_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def last_error(result) -> str:
    """A failed Ledger command: no traceback, the last stderr line is the one error line."""
    assert result.rc != 0, result
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error:"), result.stderr
    assert sum(line.startswith("error:") for line in lines) == 1
    return lines[-1]


@pytest.fixture
def device(monkeypatch: pytest.MonkeyPatch):
    """An emulated device with the K2 mnemonic, reachable through SMESH_LEDGER."""
    emulated = EmulatedLedger(K2_MNEMONIC)
    with EmulatorServer(emulated) as server:
        monkeypatch.setenv("SMESH_LEDGER", server.selector)
        yield emulated


@pytest.fixture(scope="session")
def ledger_wallet(session_dir: Path, password_file: Path) -> Path:
    """A wallet file made by `wallet create --ledger` from a K2 device: two accounts, public keys only."""
    from cli.main import run

    file = session_dir / "ledger.json"
    with EmulatorServer(EmulatedLedger(K2_MNEMONIC)) as server:
        rc = run(["wallet", "create", "--ledger", "--accounts", "2", "--device", server.selector, "--file", str(file),
                  "--password-file", str(password_file)])
    assert rc == 0
    return file


# --------------------------------------------------------------------------------------------
# smesh ledger


def test_emulate_command_serves_the_app(tmp_path):
    mnemonic = tmp_path / "mnemonic"
    mnemonic.write_text(K2_MNEMONIC + "\n")
    env = {**os.environ, "COLUMNS": WIDE, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [str(SMESH), "ledger", "emulate", "--port", "0", "--mnemonic-file", str(mnemonic), "--reject", "--log"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert "listening on tcp:127.0.0.1:" in line, line + proc.stderr.read()
        selector = line.strip().rsplit(" ", 1)[-1]
        version = subprocess.run([str(SMESH), "ledger", "version", "--device", selector], capture_output=True,
                                 text=True, env=env, timeout=30)
        assert version.returncode == 0, version.stderr
        assert version.stdout.startswith("Spacemesh app 0.0.15 (target 0x33000004")
        address = subprocess.run([str(SMESH), "--json", "ledger", "address", "--device", selector],
                                 capture_output=True, text=True, env=env, timeout=30)
        assert json.loads(address.stdout)["address"] == K2_SM
        shown = subprocess.run([str(SMESH), "ledger", "address", "--confirm", "--device", selector],
                               capture_output=True, text=True, env=env, timeout=30)
        assert shown.returncode == 1
        assert shown.stderr.strip().splitlines()[-1] == "error: rejected on the device (0x6986)"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "> 4500000000\n< " in err  # --log shows APDUs and replies
    assert "6986\n" in err


def test_version_json(cli, device):
    result = cli("--json", "ledger", "version")
    assert result.rc == 0, result.stderr
    assert json.loads(result.stdout) == {"app": "Spacemesh", "version": "0.0.15", "testMode": False,
                                         "locked": False, "targetId": "0x33000004"}


def test_address_variants(cli, device):
    assert only_line(cli("ledger", "address").stdout) == K2_SM
    assert only_line(cli("ledger", "address", "--index", "1").stdout) == K2B_SM
    testnet_form = only_line(cli("ledger", "address", "--index", "1", "--hrp", "stest").stdout)
    assert testnet_form == ref.encode(ref.decode(K2B_SM)[1], "stest")
    assert device.reviews == []  # nothing was shown for approval
    data = json.loads(cli("--json", "ledger", "address", "--confirm").stdout)
    assert data["publicKey"] == K2_PUB.hex() and data["path"] == "m/44'/540'/0'/0'/0'"
    assert device.reviews[-1].items == [("Address", K2_SM)]
    coin1 = json.loads(cli("--json", "ledger", "address", "--coin", "1").stdout)
    assert coin1["path"] == "m/44'/1'/0'/0'/0'" and coin1["address"].startswith("stest1")
    assert coin1["publicKey"] != K2_PUB.hex()  # another path, another key
    assert device.apdus[-1] == bytes.fromhex("4501000014") + bytes.fromhex("2c00008001000080") + bytes(
        [0, 0, 0, 0x80] * 3
    )


def test_address_errors(smesh, device):
    assert "5 levels" in one_error_line(smesh("ledger", "address", "--path", "m/44'/540'/0'/0'"))
    assert smesh("ledger", "address", "--coin", "60").rc == 2
    device.locked = True
    assert "locked" in last_error(smesh("ledger", "address"))


def test_no_device_is_one_line(smesh):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    line = one_error_line(smesh("ledger", "version", "--device", f"tcp:127.0.0.1:{port}"))
    assert f"no Ledger emulator at tcp:127.0.0.1:{port}" in line
    bad = smesh("ledger", "version", "--device", "bluetooth")
    assert bad.rc == 2 and "usb, usb:N or tcp:HOST:PORT" in one_error_line(bad)


# --------------------------------------------------------------------------------------------
# wallet create --ledger


def test_wallet_create_ledger_stores_public_keys_only(ledger_wallet):
    meta, secrets = read_wallet(ledger_wallet, PASSWORD)
    plain = secrets.to_json()
    assert plain["mnemonic"] == "(none)"
    assert plain["MasterKeypair"] is None
    assert [(a["path"], a["publicKey"], a["secretKey"], a["keyType"], a["displayName"]) for a in plain["accounts"]] == [
        ("m/44'/540'/0'/0'/0'", K2_PUB.hex(), "", 1, "Ledger Child Key"),
        ("m/44'/540'/0'/0'/1'", K2B_PUB.hex(), "", 1, "Ledger Child Key 1"),
    ]
    assert oct(ledger_wallet.stat().st_mode & 0o777) == "0o600"


def test_wallet_create_ledger_shows_first_address(cli, device, tmp_path, password_file):
    result = cli("--json", "wallet", "create", "--ledger", "--accounts", "3", "--file", tmp_path / "l.json",
                 "--password-file", password_file)
    assert result.rc == 0, result.stderr
    data = json.loads(result.stdout)
    assert "mnemonic" not in data and data["ledger"] is True
    assert [a["address"] for a in data["accounts"][:2]] == [K2_SM, K2B_SM]
    assert [(r.kind, r.items) for r in device.reviews] == [("address", [("Address", K2_SM)])]


def test_wallet_create_ledger_rejected_writes_nothing(smesh, device, tmp_path, password_file):
    device.reject = True
    target = tmp_path / "l.json"
    result = smesh("wallet", "create", "--ledger", "--file", target, "--password-file", password_file)
    assert last_error(result) == "error: rejected on the device (0x6986)"
    assert not target.exists()


def test_ledger_wallet_show_and_add_account(smesh, ledger_wallet, password_file):
    shown = smesh("--json", "wallet", "show", "--file", ledger_wallet, "--password-file", password_file)
    assert [a["address"] for a in json.loads(shown.stdout)["accounts"]] == [K2_SM, K2B_SM]
    added = smesh("wallet", "add-account", "--file", ledger_wallet, "--password-file", password_file)
    assert "Ledger wallet" in one_error_line(added)


def test_device_needs_ledger_flag(smesh, tmp_path, password_file):
    result = smesh("wallet", "create", "--device", "usb", "--file", tmp_path / "x.json",
                   "--password-file", password_file)
    assert "--ledger" in one_error_line(result)


# --------------------------------------------------------------------------------------------
# signing on the device


def test_spend_from_ledger_wallet_matches_spec(cli, device, ledger_wallet, password_file):
    result = cli("tx", "spend", "--file", ledger_wallet, "--password-file", password_file, *SPEND_ARGS)
    assert result.rc == 0, result.stderr
    assert only_line(result.stdout) == SPEND
    assert "Confirm the transaction on your Ledger" in result.stderr
    payload = GENESIS + bytes.fromhex(SPEND_UNSIGNED)
    assert device.apdus == [
        bytes.fromhex("4501000014") + K2_PATH,  # the device's key is checked against the wallet's first
        bytes.fromhex("4502000014") + K2_PATH,
        bytes([0x45, 0x02, 0x02, 0x00, len(payload)]) + payload,
    ]
    assert device.reviews[-1].kind == "spend"


def test_ledger_flag_without_wallet(cli, device):
    spend = cli("tx", "spend", "--ledger", *SPEND_ARGS)
    assert spend.rc == 0, spend.stderr
    assert only_line(spend.stdout) == SPEND
    spawn = cli("tx", "spawn", "--ledger")
    assert only_line(spawn.stdout) == SPAWN
    second = json.loads(cli("--json", "tx", "spawn", "--ledger", "--account", "1").stdout)
    assert second["principal"] == K2B_SM
    raw = bytes.fromhex(second["raw"])
    assert ref.verify(K2B_PUB, GENESIS + raw[:-64], raw[-64:])


def test_ledger_flag_with_software_wallet_checks_the_key(cli, k2, device):
    result = cli("tx", "spend", *k2.args(), "--ledger", *SPEND_ARGS)
    assert only_line(result.stdout) == SPEND
    assert len(device.reviews) == 1


def test_sign_unsigned_tx_on_device(cli, device):
    result = cli("tx", "sign", SPEND_UNSIGNED, "--ledger")
    assert only_line(result.stdout) == SPEND


def test_multisig_parts_on_two_devices(cli, device):
    first = json.loads(cli("--json", "tx", "multisig-spend", "--ledger", "--required", "2", *KEYS, "--to", DEST,
                           "--amount", "1smh", "--nonce", "0").stdout)
    assert first["unsigned"] == MS_UNSIGNED
    assert first["parts"] == [{"ref": 0, "hex": MS_PART0}]
    second = cli("tx", "sign", MS_UNSIGNED, *KEYS, "--ledger", "--account", "1")
    assert only_line(second.stdout) == MS_PART1
    assert [r.kind for r in device.reviews] == ["spend", "spend"]  # a multisig spend looks like a spend


def test_multisig_spawn_over_250_bytes_sends_exact_chunks(cli, device):
    others = [bytes([i]) * 32 for i in range(1, 9)]
    keys = [K2_PUB, K2B_PUB, *others]
    args = [a for k in keys for a in ("--key", k.hex())]
    result = cli("--json", "tx", "multisig-spawn", "--ledger", "--required", "2", *args)
    assert result.rc == 0, result.stderr
    data = json.loads(result.stdout)
    spawn_args = b"\x08" + b"\x28" + b"".join(keys)  # compact(2) ‖ compact(10) ‖ keys
    principal = ref.principal(ref.MULTISIG, spawn_args)
    unsigned = b"\x00" + principal + b"\x00" + ref.template_address(ref.MULTISIG) + b"\x00\x04" + spawn_args
    assert data["unsigned"] == unsigned.hex()
    payload = GENESIS + unsigned
    assert len(payload) == 394
    assert device.apdus == [
        bytes.fromhex("4501000014") + K2_PATH,  # the key, from the device
        bytes.fromhex("4502000014") + K2_PATH,  # INIT: the path
        bytes.fromhex("45020100fa") + payload[:250],  # ADD: 250 bytes
        bytes.fromhex("4502020090") + payload[250:],  # LAST: the other 144
    ]
    part = bytes.fromhex(data["parts"][0]["hex"])
    assert part[0] == 0 and ref.verify(K2_PUB, payload, part[1:])
    review = dict(device.reviews[-1].items)
    assert review["Tx type"] == "Multisig spawn" and review["Participants"] == "10" and review["Validators"] == "2"


def test_rejected_on_device(smesh, device):
    device.reject = True
    result = smesh("tx", "spend", "--ledger", *SPEND_ARGS)
    assert last_error(result) == "error: rejected on the device (0x6986)"
    assert result.stdout == ""
    as_json = smesh("--json", "tx", "spend", "--ledger", *SPEND_ARGS)
    assert as_json.rc == 1
    assert json.loads(as_json.stderr.strip().splitlines()[-1]) == {"error": "rejected on the device (0x6986)"}


def test_wallet_from_another_device(smesh, ledger_wallet, password_file, monkeypatch):
    with EmulatorServer(EmulatedLedger(ABANDON)) as other:
        result = smesh("tx", "spend", "--file", ledger_wallet, "--password-file", password_file, "--device",
                       other.selector, *SPEND_ARGS)
        assert "holds a different key" in one_error_line(result)
        assert other.device.reviews == []  # nothing reached the screen
