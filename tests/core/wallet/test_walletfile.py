"""smcli/smapp wallet files (spec §1.5, vectors §5.5).

Files that the module must read are built here with hashlib + cryptography directly, so a test never
checks the module against itself; smapp's own fixtures (tests/fixtures in spacemeshos/smapp, password
"1") and the vectors inlined in smapp's `walletFiles.spec.ts` (password "password") are used as-is.
"""

import hashlib
import hmac
import json
import os
import re
import stat
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from core.errors import InvalidInput, MnemonicError, WalletFileError, WrongPassword
from core.wallet.walletfile import (
    Account,
    Wallet,
    WalletMeta,
    WalletSecrets,
    add_accounts,
    create_wallet_file,
    decrypt,
    default_wallet_path,
    derive_key,
    encrypt,
    format_timestamp,
    load_wallet_json,
    meta_from_json,
    new_wallet_secrets,
    read_wallet,
    rewrite_wallet_file,
    update_wallet_file,
    write_wallet_file,
)

DATA = Path(__file__).parent / "data"
ITER = 1000  # direct encrypt() calls use few iterations to keep the suite fast

K2 = "film theme cheese broken kingdom destroy inch ready wear inspire shove pudding"
K2_PUB = "de30fc9b812248583da6259433626fcdd2cb5ce589b00047b81e127950b9bca6"
K2_SEED = "cd85df73aa3bc31de2f0b69bb1421df7eb0cdca7cb170a457869ab337749dae1"
K2M_PUB = "0b88a7066458f62878b7bc8ae5e61de9e3d626dd00a556b9207441e62a9b6b7b"
K2B_PUB = "3e53ca89fae03e6e9477f0fdc3abf994d1885007a73d136f4122a260a70348cd"
SMCLI_CONSTANT_IV = "7b226d6e656d6f6e6963223a"  # = b'{"mnemonic":'
TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z$")


# --- independent builders ---------------------------------------------------------------------


def _pbkdf2(password: str, salt: bytes, iterations: int, length: int = 32) -> bytes:
    return hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, length)


def _gcm_file(plaintext: bytes, password: str, *, salt: bytes, iterations: int, iv: bytes | None = None,
              hash_label: str = "SHA-512", dklen: int = 256, meta: dict | None = None) -> dict:
    key = _pbkdf2(password, salt, iterations, dklen // 8)
    if iv is None:
        iv = hmac.new(key, plaintext, hashlib.sha512).digest()[:12]
    sealed = AESGCM(key).encrypt(iv, plaintext, None)
    return {
        "meta": meta if meta is not None else {"displayName": "Main Wallet", "created": "x", "genesisID": ""},
        "crypto": {
            "cipher": "AES-GCM",
            "cipherText": sealed.hex(),
            "cipherParams": {"iv": iv.hex()},
            "kdf": "PBKDF2",
            "kdfparams": {"dklen": dklen, "hash": hash_label, "salt": salt.hex(), "iterations": iterations},
        },
    }


def _legacy_file(plaintext: bytes, password: str) -> dict:
    key = _pbkdf2(password, b"Spacemesh blockmesh", 1_000_000)
    enc = Cipher(algorithms.AES(key), modes.CTR(bytes(15) + b"\x05")).encryptor()
    ct = enc.update(plaintext) + enc.finalize()
    return {"meta": {"displayName": "Old", "created": "y", "netId": 1}, "crypto": {"cipher": "AES-128-CTR", "cipherText": ct.hex()}}


def _public_of(seed32: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed32).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _open_independently(obj: dict, password: str) -> tuple[bytes, bytes]:
    """Decrypt an encrypt() result with hashlib + cryptography; return (key, plaintext)."""
    c = obj["crypto"]
    p = c["kdfparams"]
    key = _pbkdf2(password, bytes.fromhex(p["salt"]), p["iterations"], p["dklen"] // 8)
    plaintext = AESGCM(key).decrypt(bytes.fromhex(c["cipherParams"]["iv"]), bytes.fromhex(c["cipherText"]), None)
    return key, plaintext


@pytest.fixture(scope="module")
def k2_secrets() -> WalletSecrets:
    secrets = new_wallet_secrets(K2, 2, now=datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc))
    return replace(secrets, contacts=({"address": "sm1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8q2gdz9k", "nickname": "me"},))


# --- KDF --------------------------------------------------------------------------------------


def test_smcli_pbkdf2_vector():
    key = derive_key("password", bytes.fromhex("0102030405060708090a0b0c0d0e0f10"), 210000)
    assert key.hex() == "034263f033f4c97321e29f6b9db7773784498fc38335ac8f2ceb09f283ab3905"


# --- writing ----------------------------------------------------------------------------------


def test_encrypt_outer_structure(k2_secrets):
    meta = WalletMeta(display_name="Main Wallet", created="2024-05-06T07-08-09.123Z", genesis_id="")
    obj = encrypt(k2_secrets, "pw", meta, iterations=ITER)
    assert obj["meta"] == {"displayName": "Main Wallet", "created": "2024-05-06T07-08-09.123Z", "genesisID": ""}
    crypto = obj["crypto"]
    assert crypto["cipher"] == "AES-GCM"
    assert crypto["kdf"] == "PBKDF2"
    params = crypto["kdfparams"]
    assert params["dklen"] == 256 and params["hash"] == "SHA-512" and params["iterations"] == ITER
    assert re.fullmatch(r"[0-9a-f]{32}", params["salt"])
    assert re.fullmatch(r"[0-9a-f]{24}", crypto["cipherParams"]["iv"])
    assert re.fullmatch(r"[0-9a-f]+", crypto["cipherText"])


def test_encrypt_is_readable_independently_and_iv_is_hmac_of_plaintext(k2_secrets):
    obj = encrypt(k2_secrets, "pw", iterations=ITER)
    key, plaintext = _open_independently(obj, "pw")
    assert bytes.fromhex(obj["crypto"]["cipherParams"]["iv"]) == hmac.new(key, plaintext, hashlib.sha512).digest()[:12]
    # ciphertext ‖ 16-byte tag
    assert len(bytes.fromhex(obj["crypto"]["cipherText"])) == len(plaintext) + 16
    parsed = json.loads(plaintext)
    assert plaintext == json.dumps(parsed, separators=(",", ":")).encode()  # compact JSON
    assert list(parsed) == ["mnemonic", "MasterKeypair", "accounts", "contacts"]
    assert parsed["mnemonic"] == K2
    acc0 = parsed["accounts"][0]
    assert acc0 == {
        "displayName": "Child Key 0",
        "created": "2024-05-06T07-08-09.123Z",
        "path": "m/44'/540'/0'/0'/0'",
        "publicKey": K2_PUB,
        "secretKey": K2_SEED + K2_PUB,
        "keyType": 0,
    }
    assert parsed["accounts"][1]["publicKey"] == K2B_PUB
    assert parsed["MasterKeypair"]["displayName"] == "Master Key"
    assert parsed["MasterKeypair"]["path"] == "m/44'/540'/0'/0'"
    assert parsed["MasterKeypair"]["publicKey"] == K2M_PUB
    assert parsed["contacts"] == [{"address": "sm1qqqqqqz9rf583slhn38g6q6a562ctltv9fv5w8q2gdz9k", "nickname": "me"}]


def test_each_encryption_uses_a_fresh_salt(k2_secrets):
    a = encrypt(k2_secrets, "pw", iterations=ITER)["crypto"]
    b = encrypt(k2_secrets, "pw", iterations=ITER)["crypto"]
    assert a["kdfparams"]["salt"] != b["kdfparams"]["salt"]
    assert a["cipherText"] != b["cipherText"]


def test_round_trip(k2_secrets):
    meta = WalletMeta(display_name="Mine", created="c", genesis_id="0x91d3", extra={"type": "local-node", "remoteApi": ""})
    obj = encrypt(k2_secrets, "correct horse", meta, iterations=ITER)
    assert decrypt(obj, "correct horse") == k2_secrets
    assert meta_from_json(obj) == meta


@pytest.mark.parametrize("password", ["", "pässwörd ✓", " spaces "])
def test_round_trip_unusual_passwords(k2_secrets, password):
    obj = encrypt(k2_secrets, password, iterations=ITER)
    _open_independently(obj, password)  # key is PBKDF2 over the UTF-8 bytes
    assert decrypt(obj, password) == k2_secrets


@pytest.mark.parametrize("iterations", [0, -1, 1.5, True])
def test_encrypt_rejects_bad_iterations(k2_secrets, iterations):
    with pytest.raises(InvalidInput):
        encrypt(k2_secrets, "pw", iterations=iterations)


def test_wrong_password(k2_secrets):
    obj = encrypt(k2_secrets, "right", iterations=ITER)
    with pytest.raises(WrongPassword, match="^wrong password or corrupted wallet file$"):
        decrypt(obj, "wrong")


def test_tampered_ciphertext_reads_as_wrong_password(k2_secrets):
    obj = encrypt(k2_secrets, "pw", iterations=ITER)
    ct = bytearray(bytes.fromhex(obj["crypto"]["cipherText"]))
    ct[5] ^= 1
    obj["crypto"]["cipherText"] = ct.hex()
    with pytest.raises(WrongPassword):
        decrypt(obj, "pw")


# --- reading what smcli and smapp write -------------------------------------------------------


def _smcli_plaintext() -> bytes:
    acc = {"displayName": "Child Key 0", "created": "2024-01-01T00-00-00.000Z", "path": "m/44'/540'/0'/0'/0'",
           "publicKey": K2_PUB, "secretKey": K2_SEED + K2_PUB, "keyType": 0}
    master = dict(acc, displayName="Master Key", path="m/44'/540'/0'/0'", publicKey=K2M_PUB,
                  secretKey="11" * 32 + K2M_PUB)
    return json.dumps({"mnemonic": K2, "MasterKeypair": master, "accounts": [acc]}, separators=(",", ":")).encode()


def test_reads_smcli_file_with_constant_iv_and_sha256_label():
    plaintext = _smcli_plaintext()
    assert plaintext[:12].hex() == SMCLI_CONSTANT_IV  # what smcli's hash.Sum(plaintext) bug stores
    obj = _gcm_file(plaintext, "password", salt=bytes.fromhex("0102030405060708090a0b0c0d0e0f10"),
                    iterations=ITER, iv=bytes.fromhex(SMCLI_CONSTANT_IV), hash_label="SHA-256")
    secrets = decrypt(obj, "password")
    assert secrets.mnemonic == K2
    assert secrets.contacts == ()
    [acc] = secrets.accounts
    assert acc == Account("Child Key 0", "2024-01-01T00-00-00.000Z", "m/44'/540'/0'/0'/0'",
                          bytes.fromhex(K2_PUB), bytes.fromhex(K2_SEED + K2_PUB), 0)
    assert secrets.master is not None and secrets.master.public_key.hex() == K2M_PUB
    assert secrets.master.display_name == "Master Key"


def test_reads_smcli_ledger_wallet():
    acc = {"displayName": "Ledger Child Key", "created": "t", "path": "m/44'/540'/0'/0'/0'",
           "publicKey": K2_PUB, "secretKey": "", "keyType": 1}
    plaintext = json.dumps({"mnemonic": "(none)", "MasterKeypair": None, "accounts": [acc]}).encode()
    secrets = decrypt(_gcm_file(plaintext, "", salt=b"s" * 16, iterations=ITER), "")
    assert secrets.master is None
    assert secrets.accounts[0].secret_key == b""
    assert secrets.accounts[0].key_type == 1
    with pytest.raises(InvalidInput, match="Ledger"):
        add_accounts(secrets, 1)


def test_reads_smapp_style_secrets_with_0x_hex_no_keytype_and_unknown_keys():
    acc = {"displayName": "Main Account", "created": "2022-11-02T16-14-40.308Z", "path": "44'/540'/0'/0'/0'",
           "publicKey": "0x" + K2_PUB, "secretKey": "0x" + K2_SEED + K2_PUB, "color": "green"}
    plaintext = json.dumps({"mnemonic": K2, "accounts": [acc], "contacts": [{"address": "a", "nickname": "n"}],
                            "future": 1}).encode()
    obj = _gcm_file(plaintext, "pw", salt=os.urandom(16), iterations=ITER,
                    meta={"displayName": "W", "created": "c", "type": "remote-api", "remoteApi": "host:443"})
    secrets = decrypt(obj, "pw")
    [account] = secrets.accounts
    assert account.public_key.hex() == K2_PUB and account.secret_key.hex() == K2_SEED + K2_PUB
    assert account.key_type == 0 and account.path == "44'/540'/0'/0'/0'"
    assert secrets.master is None
    assert secrets.contacts == ({"address": "a", "nickname": "n"},)
    meta = meta_from_json(obj)
    assert meta.genesis_id == "" and meta.extra == {"type": "remote-api", "remoteApi": "host:443"}
    # rewriting keeps what we do not understand
    _, again = _open_independently(encrypt(secrets, "pw", meta, iterations=ITER), "pw")
    again = json.loads(again)
    assert again["future"] == 1 and again["accounts"][0]["color"] == "green"
    # and the next account continues the smapp path numbering
    assert add_accounts(secrets, 1).accounts[1].public_key.hex() == K2B_PUB


def test_missing_secret_fields_are_defaulted():
    plaintext = json.dumps({"mnemonic": K2}).encode()
    secrets = decrypt(_gcm_file(plaintext, "pw", salt=b"\x00" * 16, iterations=ITER), "pw")
    assert secrets == WalletSecrets(mnemonic=K2)


def test_stored_iterations_and_dklen_bits_are_honoured():
    plaintext = json.dumps({"mnemonic": K2, "accounts": []}).encode()
    obj = _gcm_file(plaintext, "pw", salt=b"\x01" * 16, iterations=1234, dklen=128)  # AES-128 key
    assert decrypt(obj, "pw").mnemonic == K2


def test_reads_legacy_ctr_file_built_independently():
    plaintext = json.dumps({"mnemonic": K2, "accounts": [{"displayName": "Main Account", "created": "c",
                            "path": "0/0/0", "publicKey": K2_PUB, "secretKey": K2_SEED + K2_PUB}],
                            "contacts": []}).encode()
    secrets = decrypt(_legacy_file(plaintext, "legacy-pw"), "legacy-pw")
    assert secrets.mnemonic == K2
    assert secrets.accounts[0].path == "0/0/0"
    assert secrets.accounts[0].public_key.hex() == K2_PUB


# --- smapp's own vectors ----------------------------------------------------------------------

SMAPP_SECRETS = WalletSecrets(mnemonic="this is just a test so it does not matter what mnemonics here")
SMAPP_CTR = {
    "cipher": "AES-128-CTR",
    "cipherText": (
        "715066e1109e89e8d638e703fdc6038d7bb25a81df6b6d2aebeba26488f7b4b47bc805b61302c125c6998ebcbb15a40c5802e8"
        "386c4edbdca832db3d8e1d27c36e68357a840d0cc623a92c498cde40c6205d715013cb5ecd2d676212d6ed2b30061fc85b70890eb2"
    ),
}
SMAPP_GCM = {
    "cipher": "AES-GCM",
    "cipherText": (
        "5d1877a1e2c65ee3f894e7100c434770702fa29402b548438b8fbcdb37a76ca1dff4151a84984ba889a9efc564580b627861"
        "9e7bba17902405b05170a3407b63e640f1e68f97a02e60c917e806b3f761a1c8c29e66d856406f4eeacaedd50ba3f0f89601"
        "1aa4d312c1636305b8175b1bb26ea827368af738"
    ),
    "cipherParams": {"iv": "49c842e8b787923f9b4e7dc5"},
    "kdf": "PBKDF2",
    "kdfparams": {"dklen": 256, "hash": "SHA-512", "salt": "99d1b77e562446a65f0aa031d476df5b", "iterations": 120000},
}


def test_smapp_inline_gcm_vector():
    assert decrypt({"crypto": SMAPP_GCM}, "password") == SMAPP_SECRETS
    with pytest.raises(WrongPassword):
        decrypt({"crypto": SMAPP_GCM}, "wrong")


def test_smapp_inline_legacy_vector():
    assert decrypt({"crypto": SMAPP_CTR}, "password") == SMAPP_SECRETS
    with pytest.raises(WrongPassword):
        decrypt({"crypto": SMAPP_CTR}, "wrong")


def test_smapp_gcm_fixture():
    meta, secrets = read_wallet(DATA / "my_wallet_gcm.json", "1")
    assert meta.display_name == "Wallet GCM"
    assert meta.genesis_id == "0x91d338938929ec38e320ba558b6bd8538eae9753"
    assert meta.extra["type"] == "local-node"
    assert secrets.mnemonic == "cigar illness zero maple resist blade hood pizza soup onion cross step"
    [acc] = secrets.accounts
    assert acc.display_name == "Main Account" and acc.path == "44'/540'/0'/0'/0'"
    assert acc.public_key.hex() == "23463c31d0f7e00f68cd623125307e91a27cf37ac00c06770f6f65286bd6bc80"
    assert acc.secret_key[32:] == acc.public_key
    assert _public_of(acc.secret_key[:32]) == acc.public_key
    # smapp's IV rule holds for smapp's own file
    key = _pbkdf2("1", bytes.fromhex("ec756095c06f695c7cf261660f1cf597"), 120000)
    raw = load_wallet_json(DATA / "my_wallet_gcm.json")["crypto"]
    plaintext = AESGCM(key).decrypt(bytes.fromhex(raw["cipherParams"]["iv"]), bytes.fromhex(raw["cipherText"]), None)
    assert hmac.new(key, plaintext, hashlib.sha512).digest()[:12].hex() == raw["cipherParams"]["iv"]


def test_smapp_gcm_fixture_wrong_password():
    with pytest.raises(WrongPassword):
        read_wallet(DATA / "my_wallet_gcm.json", "password")


def test_smapp_legacy_fixture():
    wallet = read_wallet(DATA / "my_wallet_legacy.json", "1")
    assert isinstance(wallet, Wallet)
    assert wallet.meta.display_name == "Wallet Legacy"
    assert wallet.meta.extra["netId"] == 221
    assert wallet.secrets.mnemonic == "fish penalty resemble ladder course olive piece legend mix winner nature nominee"
    [acc] = wallet.secrets.accounts
    assert acc.path == "0/0/0"
    assert acc.public_key.hex() == "9ca28741383d93b9570d0a8de56831b62b2e5123071911357bcf45e433f9a9c0"
    assert _public_of(acc.secret_key[:32]) == acc.public_key


# --- malformed input --------------------------------------------------------------------------


def _valid_crypto() -> dict:
    return _gcm_file(b'{"mnemonic":"x"}', "pw", salt=b"\x02" * 16, iterations=ITER)


def _mutations():
    def drop(*keys):
        def f(obj):
            target = obj
            for k in keys[:-1]:
                target = target[k]
            del target[keys[-1]]
        return f

    def set_(value, *keys):
        def f(obj):
            target = obj
            for k in keys[:-1]:
                target = target[k]
            target[keys[-1]] = value
        return f

    return {
        "no crypto": drop("crypto"),
        "crypto not object": set_([], "crypto"),
        "unknown cipher": set_("AES-256-CBC", "crypto", "cipher"),
        "no cipher": drop("crypto", "cipher"),
        "bad hex": set_("zz", "crypto", "cipherText"),
        "cipherText number": set_(5, "crypto", "cipherText"),
        "no iv": drop("crypto", "cipherParams"),
        "no kdfparams": drop("crypto", "kdfparams"),
        "no salt": drop("crypto", "kdfparams", "salt"),
        "zero iterations": set_(0, "crypto", "kdfparams", "iterations"),
        "odd dklen": set_(100, "crypto", "kdfparams", "dklen"),
        "other kdf": set_("scrypt", "crypto", "kdf"),
        "short iv": set_("00", "crypto", "cipherParams", "iv"),
    }


@pytest.mark.parametrize("name", list(_mutations()))
def test_malformed_files_give_one_line_wallet_file_errors(name):
    obj = _valid_crypto()
    _mutations()[name](obj)
    with pytest.raises(WalletFileError) as info:
        decrypt(obj, "pw")
    assert not isinstance(info.value, WrongPassword)
    assert "\n" not in str(info.value) and str(info.value)


@pytest.mark.parametrize("obj", [None, [], "x", 5])
def test_non_object_is_not_a_wallet(obj):
    with pytest.raises(WalletFileError):
        decrypt(obj, "pw")


@pytest.mark.parametrize(
    "plaintext",
    [
        b"not json",
        b"[1,2]",
        b'{"accounts":{}}',
        b'{"accounts":[{"publicKey":"00"}]}',
        b'{"accounts":[{"secretKey":"00"}]}',
        b'{"accounts":[{}]}',
        b'{"accounts":[{"publicKey":"' + b"ab" * 32 + b'","keyType":"ledger"}]}',
        b'{"contacts":"none"}',
        b'{"mnemonic":5}',
    ],
)
def test_bad_secrets_are_wallet_file_errors(plaintext):
    obj = _gcm_file(plaintext, "pw", salt=b"\x03" * 16, iterations=ITER)
    with pytest.raises(WalletFileError) as info:
        decrypt(obj, "pw")
    assert not isinstance(info.value, WrongPassword)


def test_load_wallet_json_errors(tmp_path):
    with pytest.raises(WalletFileError, match="does not exist"):
        load_wallet_json(tmp_path / "nope.json")
    with pytest.raises(WalletFileError, match="directory"):
        load_wallet_json(tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(WalletFileError, match="not a valid wallet file"):
        load_wallet_json(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(WalletFileError, match="not a valid wallet file"):
        load_wallet_json(tmp_path / "other.json")


# --- files on disk ----------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_creates_directory_0700_and_file_0600(tmp_path):
    target = tmp_path / "a" / "b" / "wallet.json"
    obj = {"meta": {"displayName": "x"}, "crypto": {"cipher": "AES-GCM"}}
    assert write_wallet_file(target, obj) == target
    assert json.loads(target.read_text()) == obj
    assert _mode(target) == 0o600
    assert _mode(target.parent) == 0o700
    assert os.listdir(target.parent) == ["wallet.json"]  # no temp file left behind


def test_write_never_overwrites(tmp_path):
    target = tmp_path / "wallet.json"
    target.write_text("precious")
    with pytest.raises(WalletFileError, match="already exists"):
        write_wallet_file(target, {"crypto": {}})
    assert target.read_text() == "precious"
    assert os.listdir(tmp_path) == ["wallet.json"]


def test_write_refuses_dangling_symlink(tmp_path):
    link = tmp_path / "wallet.json"
    link.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(WalletFileError, match="already exists"):
        write_wallet_file(link, {"crypto": {}})
    assert not (tmp_path / "elsewhere.json").exists()


def test_rewrite_replaces_atomically_with_mode_0600(tmp_path):
    target = tmp_path / "wallet.json"
    target.write_text("old")
    os.chmod(target, 0o644)
    rewrite_wallet_file(target, {"crypto": {"cipher": "AES-GCM"}})
    assert json.loads(target.read_text()) == {"crypto": {"cipher": "AES-GCM"}}
    assert _mode(target) == 0o600
    assert os.listdir(tmp_path) == ["wallet.json"]


def test_rewrite_needs_an_existing_file(tmp_path):
    with pytest.raises(WalletFileError, match="does not exist"):
        rewrite_wallet_file(tmp_path / "wallet.json", {"crypto": {}})
    assert os.listdir(tmp_path) == []


def test_create_read_add_update_at_full_strength(tmp_path):
    path = default_wallet_path(tmp_path / ".spacemesh", now=datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc))
    meta = WalletMeta(display_name="Main Wallet", created="2024-01-02T03-04-05.678Z")
    secrets = new_wallet_secrets(K2, 1)
    create_wallet_file(path, secrets, "pw", meta)
    raw = json.loads(path.read_text())
    assert raw["crypto"]["kdfparams"]["iterations"] == 210000
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    with pytest.raises(WalletFileError, match="already exists"):
        create_wallet_file(path, secrets, "pw", meta)

    read_meta, read_secrets = read_wallet(path, "pw")
    assert read_meta == meta and read_secrets == secrets

    grown = add_accounts(read_secrets, 1)
    update_wallet_file(path, Wallet(read_meta, grown), "pw")
    again = read_wallet(path, "pw")
    assert [a.public_key.hex() for a in again.secrets.accounts] == [K2_PUB, K2B_PUB]
    assert again.meta == meta
    assert _mode(path) == 0o600
    assert os.listdir(path.parent) == [path.name]


def test_writers_refuse_weak_iterations(tmp_path, k2_secrets):
    path = tmp_path / "w.json"
    with pytest.raises(InvalidInput, match="210000"):
        create_wallet_file(path, k2_secrets, "pw", iterations=209999)
    assert not path.exists()
    path.write_text("{}")
    with pytest.raises(InvalidInput):
        update_wallet_file(path, Wallet(WalletMeta(), k2_secrets), "pw", iterations=ITER)
    assert path.read_text() == "{}"


# --- names, timestamps, derivation of new wallets ---------------------------------------------


def test_default_wallet_path(tmp_path, monkeypatch):
    now = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    assert default_wallet_path(tmp_path, now) == tmp_path / "wallet_2024-01-02T03-04-05.678Z.json"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_wallet_path(now=now) == tmp_path / ".spacemesh" / "wallet_2024-01-02T03-04-05.678Z.json"


def test_format_timestamp():
    plus2 = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2024, 1, 2, 5, 4, 5, 9000, tzinfo=plus2)) == "2024-01-02T03-04-05.009Z"
    assert format_timestamp(datetime(2024, 12, 31, 23, 59, 59)) == "2024-12-31T23-59-59.000Z"
    assert TIMESTAMP_RE.match(format_timestamp())


def test_new_wallet_secrets_like_smcli(k2_secrets):
    assert k2_secrets.mnemonic == K2
    master = k2_secrets.master
    assert (master.display_name, master.path, master.public_key.hex()) == ("Master Key", "m/44'/540'/0'/0'", K2M_PUB)
    assert [(a.display_name, a.path, a.public_key.hex(), a.key_type) for a in k2_secrets.accounts] == [
        ("Child Key 0", "m/44'/540'/0'/0'/0'", K2_PUB, 0),
        ("Child Key 1", "m/44'/540'/0'/0'/1'", K2B_PUB, 0),
    ]
    assert k2_secrets.accounts[0].secret_key.hex() == K2_SEED + K2_PUB
    assert all(a.created == "2024-05-06T07-08-09.123Z" for a in k2_secrets.accounts)


def test_new_wallet_secrets_trims_and_validates_mnemonic():
    assert new_wallet_secrets(f"  {K2}\n").mnemonic == K2
    with pytest.raises(MnemonicError, match="whitespace"):
        new_wallet_secrets(K2.replace(" ", "  "))


@pytest.mark.parametrize("n", [0, 129, -1])
def test_new_wallet_secrets_account_limits(n):
    with pytest.raises(InvalidInput):
        new_wallet_secrets(K2, n)


def test_add_accounts_continues_after_highest_index():
    one = new_wallet_secrets(K2, 1)
    two = add_accounts(one, 1)
    assert two.accounts[0] == one.accounts[0]
    assert (two.accounts[1].display_name, two.accounts[1].public_key.hex()) == ("Child Key 1", K2B_PUB)
    assert two.master == one.master


def test_add_accounts_limit():
    base = new_wallet_secrets(K2, 1)
    full = replace(base, accounts=base.accounts * 127)
    with pytest.raises(InvalidInput, match="128"):
        add_accounts(full, 2)
    with pytest.raises(InvalidInput):
        add_accounts(base, 0)


def test_secrets_repr_hides_mnemonic_and_keys(k2_secrets):
    text = repr(k2_secrets)
    assert "film" not in text and K2_SEED not in text
