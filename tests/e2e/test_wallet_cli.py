"""`smesh wallet ...` end to end: files on disk, spec/wallet.md §5.1/§5.2 keys and addresses, errors."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
from mnemonic import Mnemonic

from tests.core.tx.test_vectors import K2_MNEMONIC, K2_PUB, K2_SEED, K2B_PUB
from tests.e2e import independent as ref
from tests.e2e.helpers import one_error_line

K2_SM = "sm1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8q2gdz9k"
K2_STEST = "stest1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8qha56t0"
K2B_SM = "sm1qqqqqqygmz2nnr7ush67yx7g4mmksm979m3a0xcphk3pt"
MULTISIG_2OF2 = "sm1qqqqqqr9jx5vzt3ydly4qq9eq4t2q36t2aajrvg8j33x3"
WORDLIST = Mnemonic("english").wordlist


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def check_mnemonic(phrase: str, words: int) -> list[str]:
    split = phrase.split(" ")
    assert len(split) == words
    assert all(w in WORDLIST for w in split)
    assert ref.bip39_checksum_ok(split, WORDLIST)
    return split


# --------------------------------------------------------------------------------------------
# create


def test_create_default_wallet_in_wallet_dir(smesh, password_file, wallet_dir):
    result = smesh("--json", "wallet", "create", "--password-file", password_file)
    assert result.rc == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"file", "mnemonic", "accounts"}
    check_mnemonic(data["mnemonic"], 24)
    file = Path(data["file"])
    assert file.parent == wallet_dir
    assert re.fullmatch(r"wallet_.+\.json", file.name)
    assert mode(file) == 0o600
    # the accounts listed are the ones the printed mnemonic derives
    assert len(data["accounts"]) == 1
    expected = ref.slip10_key(data["mnemonic"], 0).verify_key.encode()
    assert data["accounts"][0]["publicKey"] == expected.hex()
    assert data["accounts"][0]["address"] == ref.encode(ref.principal(ref.WALLET, expected), "sm")
    # the file keeps the mnemonic encrypted
    assert data["mnemonic"] not in file.read_text()
    assert data["mnemonic"].split()[0] + " " + data["mnemonic"].split()[1] not in file.read_text()


def test_create_12_words_human_output_prints_mnemonic_once(smesh, password_file, tmp_path):
    file = tmp_path / "twelve.json"
    result = smesh("wallet", "create", "--words", "12", "--accounts", "2", "--file", file,
                   "--password-file", password_file)
    assert result.rc == 0, result.stderr
    assert mode(file) == 0o600
    both = result.stdout + result.stderr
    candidates = [line.strip() for line in both.splitlines()
                  if re.fullmatch(r"[a-z]+( [a-z]+){11}", line.strip())]
    assert len(candidates) == 1, both
    phrase = candidates[0]
    check_mnemonic(phrase, 12)
    assert both.count(phrase) == 1
    for index in (0, 1):
        assert ref.slip10_key(phrase, index).verify_key.encode().hex() in result.stdout
    # the file opens with the same password and holds that mnemonic
    shown = smesh("--json", "wallet", "show", "--private", "--file", file, "--password-file", password_file)
    assert shown.rc == 0, shown.stderr
    assert json.loads(shown.stdout)["mnemonic"] == phrase


@pytest.mark.parametrize("command", [["create"], ["import", "--mnemonic-file", "MNEMONIC"]])
def test_create_and_import_never_overwrite(smesh, password_file, tmp_path, command):
    mnemonic_file = tmp_path / "m.txt"
    mnemonic_file.write_text(K2_MNEMONIC)
    command = [str(mnemonic_file) if c == "MNEMONIC" else c for c in command]
    existing = tmp_path / "precious.json"
    existing.write_bytes(b'{"not": "a wallet, but mine"}\n')
    os.utime(existing, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    before = snapshot(existing)
    result = smesh("wallet", *command, "--file", existing, "--password-file", password_file)
    line = one_error_line(result)
    assert "exists" in line
    assert snapshot(existing) == before
    assert K2_MNEMONIC not in result.stdout + result.stderr


def test_create_rejects_bad_word_count(smesh, password_file, tmp_path):
    result = smesh("wallet", "create", "--words", "13", "--file", tmp_path / "w.json",
                   "--password-file", password_file)
    one_error_line(result)
    assert not (tmp_path / "w.json").exists()


# --------------------------------------------------------------------------------------------
# import


def test_import_k2_from_mnemonic_file(smesh, password_file, tmp_path):
    mnemonic_file = tmp_path / "m.txt"
    mnemonic_file.write_text(K2_MNEMONIC + "\n")  # a trailing newline is not part of the phrase
    file = tmp_path / "k2.json"
    result = smesh("--json", "wallet", "import", "--mnemonic-file", mnemonic_file, "--file", file,
                   "--password-file", password_file)
    assert result.rc == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["file"] == str(file)
    assert [(a["publicKey"], a["address"]) for a in data["accounts"]] == [(K2_PUB.hex(), K2_SM)]
    assert "mnemonic" not in data  # an imported phrase is not echoed back
    assert K2_MNEMONIC not in result.stdout + result.stderr
    assert mode(file) == 0o600


@pytest.mark.parametrize(
    "phrase, reason",
    [
        (K2_MNEMONIC.replace("film theme", "film  theme"), "whitespace"),
        (K2_MNEMONIC.replace("cheese ", "cheese\n"), "whitespace"),
        (K2_MNEMONIC.replace(" ", "\t", 1), "whitespace"),
        (" ".join(["abandon"] * 12), "checksum"),
        (K2_MNEMONIC.replace("pudding", "puddin"), "puddin"),
        (" ".join(K2_MNEMONIC.split()[:11]), "count"),
    ],
    ids=["double-space", "inner-newline", "tab", "bad-checksum", "unknown-word", "11-words"],
)
def test_import_rejects_bad_mnemonic(smesh, password_file, tmp_path, phrase, reason):
    mnemonic_file = tmp_path / "m.txt"
    mnemonic_file.write_text(phrase)
    file = tmp_path / "w.json"
    result = smesh("wallet", "import", "--mnemonic-file", mnemonic_file, "--file", file,
                   "--password-file", password_file)
    line = one_error_line(result)
    assert reason in line.lower()
    assert not file.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.txt", "wallets"]


def test_import_without_mnemonic_and_no_terminal(smesh, password_file, tmp_path):
    result = smesh("wallet", "import", "--file", tmp_path / "w.json", "--password-file", password_file)
    assert "mnemonic" in one_error_line(result)
    assert not (tmp_path / "w.json").exists()


# --------------------------------------------------------------------------------------------
# show


def test_show_json_matches_spec(cli, k2):
    result = cli("--json", "wallet", "show", *k2.args())
    assert result.rc == 0, result.stderr
    data = json.loads(result.stdout)
    accounts = data["accounts"]
    assert [a["index"] for a in accounts] == [0, 1]
    assert [a["path"] for a in accounts] == ["m/44'/540'/0'/0'/0'", "m/44'/540'/0'/0'/1'"]
    assert [a["publicKey"] for a in accounts] == [K2_PUB.hex(), K2B_PUB.hex()]
    assert [a["address"] for a in accounts] == [K2_SM, K2B_SM]
    assert "mnemonic" not in data
    assert all("secretKey" not in a for a in accounts)


def test_show_stest_hrp(cli, k2):
    result = cli("--json", "wallet", "show", *k2.args(), "--hrp", "stest")
    assert result.rc == 0, result.stderr
    assert json.loads(result.stdout)["accounts"][0]["address"] == K2_STEST


def test_show_human_has_no_secrets(smesh, k2):
    result = smesh("wallet", "show", *k2.args())
    assert result.rc == 0, result.stderr
    assert K2_SM in result.stdout and K2B_SM in result.stdout
    assert K2_PUB.hex() in result.stdout
    both = result.stdout + result.stderr
    assert K2_SEED.hex() not in both
    assert K2_SEED.hex()[:16] not in both
    assert "pudding" not in both


def test_show_private(cli, smesh, k2):
    data = json.loads(cli("--json", "wallet", "show", "--private", *k2.args()).stdout)
    assert data["mnemonic"] == K2_MNEMONIC
    assert data["accounts"][0]["secretKey"] == K2_SEED.hex() + K2_PUB.hex()
    k2b_secret = bytes(ref.slip10_key(K2_MNEMONIC, 1))
    assert data["accounts"][1]["secretKey"] == k2b_secret.hex() + K2B_PUB.hex()
    human = smesh("wallet", "show", "--private", *k2.args())
    assert human.rc == 0, human.stderr
    assert K2_SEED.hex() + K2_PUB.hex() in human.stdout
    assert K2_MNEMONIC in human.stdout


def test_show_finds_the_only_wallet_and_reads_password_from_env(smesh, k2, wallet_dir):
    k2.copy_to(wallet_dir).rename(wallet_dir / "wallet_2024-01-01T00-00-00.000Z.json")
    result = smesh("--json", "wallet", "show", password=k2.password)
    assert result.rc == 0, result.stderr
    assert json.loads(result.stdout)["accounts"][0]["address"] == K2_SM


def test_show_with_two_wallets_asks_for_file(smesh, k2, wallet_dir):
    k2.copy_to(wallet_dir).rename(wallet_dir / "wallet_a.json")
    k2.copy_to(wallet_dir).rename(wallet_dir / "wallet_b.json")
    assert "--file" in one_error_line(smesh("wallet", "show", password=k2.password))


def test_show_with_no_wallet(smesh, password_file):
    one_error_line(smesh("wallet", "show", "--password-file", password_file))


# --------------------------------------------------------------------------------------------
# add-account


def test_add_account_derives_k2b(smesh, password_file, tmp_path):
    mnemonic_file = tmp_path / "m.txt"
    mnemonic_file.write_text(K2_MNEMONIC)
    file = tmp_path / "one.json"
    created = smesh("wallet", "import", "--mnemonic-file", mnemonic_file, "--file", file,
                    "--password-file", password_file)
    assert created.rc == 0, created.stderr
    result = smesh("--json", "wallet", "add-account", "--file", file, "--password-file", password_file)
    assert result.rc == 0, result.stderr
    added = json.loads(result.stdout)["added"]
    assert [(a["index"], a["publicKey"], a["address"]) for a in added] == [(1, K2B_PUB.hex(), K2B_SM)]
    assert mode(file) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("one")] == ["one.json"]  # no temp left
    shown = smesh("--json", "wallet", "show", "--private", "--file", file, "--password-file", password_file)
    assert shown.rc == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert [a["publicKey"] for a in data["accounts"]] == [K2_PUB.hex(), K2B_PUB.hex()]
    assert data["mnemonic"] == K2_MNEMONIC


# --------------------------------------------------------------------------------------------
# address


def test_address_single_sig(cli):
    assert cli("wallet", "address", "--key", K2_PUB.hex()).stdout.strip() == K2_SM
    assert cli("wallet", "address", "--key", "0x" + K2_PUB.hex(), "--hrp", "stest").stdout.strip() == K2_STEST


def test_address_multisig_2_of_2(cli):
    result = cli("wallet", "address", "--required", "2", "--key", K2_PUB.hex(), "--key", K2B_PUB.hex())
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == MULTISIG_2OF2
    data = json.loads(cli("--json", "wallet", "address", "-m", "2", "-k", K2_PUB.hex(), "-k", K2B_PUB.hex()).stdout)
    assert data["address"] == MULTISIG_2OF2
    assert data["template"] == "multisig"
    assert data["hex"] == ref.decode(MULTISIG_2OF2)[1].hex()


def test_address_key_order_matters(cli):
    swapped = cli("wallet", "address", "--required", "2", "--key", K2B_PUB.hex(), "--key", K2_PUB.hex())
    expected = ref.encode(ref.principal(ref.MULTISIG, b"\x08\x08" + K2B_PUB + K2_PUB), "sm")
    assert swapped.stdout.strip() == expected != MULTISIG_2OF2


# SCALE of the vesting args {Required 1, keys [K2, K2b]}: compact(1) = 04, compact(len 2) = 08
VESTING_1OF2_ARGS = bytes.fromhex("04" "08") + K2_PUB + K2B_PUB


def test_address_vesting(cli):
    result = cli("wallet", "address", "--vesting", "--required", "1", "--key", K2_PUB.hex(), "--key", K2B_PUB.hex(),
                 "--hrp", "stest")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == ref.encode(ref.principal(ref.VESTING, VESTING_1OF2_ARGS), "stest")
    # same args, other template: another address
    multisig = cli("wallet", "address", "--required", "1", "--key", K2_PUB.hex(), "--key", K2B_PUB.hex())
    assert multisig.stdout.strip() == ref.encode(ref.principal(ref.MULTISIG, VESTING_1OF2_ARGS), "sm")


def test_address_vault(cli):
    owner = ref.principal(ref.VESTING, VESTING_1OF2_ARGS)
    # SCALE: owner (24 raw) ‖ compact64 total ‖ compact64 initial ‖ compact32 start ‖ compact32 end
    scale = (
        owner
        + bytes.fromhex("0700e8764817")  # 100 SMH = 10^11 = 0x174876e800: big mode, 5 bytes
        + bytes.fromhex("0700e40b5402")  # 10 SMH = 10^10 = 0x02540be400: big mode, 5 bytes
        + bytes.fromhex("9101")  # 100: (100 << 2) | 1
        + bytes.fromhex("a10f")  # 1000: (1000 << 2) | 1
    )
    result = cli("wallet", "address", "--vault-owner", ref.encode(owner, "sm"), "--total", "100smh",
                 "--initial", "10smh", "--start", "100", "--end", "1000")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == ref.encode(ref.principal(ref.VAULT, scale), "sm")
    data = json.loads(cli("--json", "wallet", "address", "--vault-owner", ref.encode(owner, "sm"),
                          "--total", "100000000000", "--initial", "10000000000", "--start", "100", "--end", "1000",
                          "--hrp", "stest").stdout)
    assert data["address"] == ref.encode(ref.principal(ref.VAULT, scale), "stest")
    assert data["template"] == "vault"


@pytest.mark.parametrize(
    "args",
    [
        ["--key", K2_PUB.hex(), "--key", K2B_PUB.hex()],  # multisig without --required
        ["--key", K2_PUB.hex()[:-2]],  # 31-byte key
        ["--key", "zz" * 32],
        [],
        ["--vault-owner", K2_SM],  # vault without --total
        ["--required", "3", "--key", K2_PUB.hex(), "--key", K2B_PUB.hex()],  # more required than keys
    ],
    ids=["no-required", "short-key", "not-hex", "nothing", "vault-no-total", "required>keys"],
)
def test_address_errors(smesh, args):
    one_error_line(smesh("wallet", "address", *args))


# --------------------------------------------------------------------------------------------
# message signing


def test_sign_and_verify_message(smesh, k2, tmp_path):
    text = "I own this address ✓ — 2024"
    result = smesh("--json", "wallet", "sign-message", text, *k2.args())
    assert result.rc == 0, result.stderr
    signed = json.loads(result.stdout)
    assert signed["text"] == text
    assert signed["publicKey"] == "0x" + K2_PUB.hex()
    signature = bytes.fromhex(signed["signature"].removeprefix("0x"))
    assert ref.verify(K2_PUB, text.encode("utf-8"), signature)  # plain ed25519 over the UTF-8 text

    signed_file = tmp_path / "signed.json"
    signed_file.write_text(result.stdout)
    ok = smesh("wallet", "verify-message", signed_file)
    assert ok.rc == 0, ok.stderr
    assert "valid" in ok.stdout and "invalid" not in ok.stdout
    assert K2_SM in ok.stdout
    assert smesh("wallet", "verify-message", "-", stdin=result.stdout.encode()).rc == 0

    tampered = dict(signed, text=text + "!")
    bad = smesh("wallet", "verify-message", json.dumps(tampered))
    assert bad.rc == 1
    assert "invalid" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr
    bad_json = smesh("--json", "wallet", "verify-message", "--text", text + "!", "--signature", signed["signature"],
                     "--public-key", signed["publicKey"])
    assert bad_json.rc == 1
    assert json.loads(bad_json.stdout)["valid"] is False


def test_sign_message_with_second_account(cli, k2):
    result = cli("--json", "wallet", "sign-message", "hello", *k2.args(), "--account", "1")
    assert result.rc == 0, result.stderr
    signed = json.loads(result.stdout)
    assert signed["publicKey"] == "0x" + K2B_PUB.hex()
    assert ref.verify(K2B_PUB, b"hello", bytes.fromhex(signed["signature"][2:]))
    assert not ref.verify(K2_PUB, b"hello", bytes.fromhex(signed["signature"][2:]))


def test_verify_message_rejects_malformed_json(smesh):
    one_error_line(smesh("wallet", "verify-message", '{"text": "x"}'))


# --------------------------------------------------------------------------------------------
# passwords


@pytest.mark.parametrize("command", [["show"], ["add-account"], ["sign-message", "hi"]])
def test_wrong_password_changes_nothing(smesh, k2, tmp_path, command):
    file = k2.copy_to(tmp_path)
    os.utime(file, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    before = snapshot(file)
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password")
    result = smesh("wallet", *command, "--file", file, "--password-file", wrong)
    line = one_error_line(result)
    assert "password" in line.lower()
    assert result.stdout == ""
    assert snapshot(file) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k2_copy.json", "wallets", "wrong"]


def test_no_password_and_no_terminal(smesh, k2):
    line = one_error_line(smesh("wallet", "show", "--file", k2.file))
    assert "--password-file" in line or "SMESH_WALLET_PASSWORD" in line
