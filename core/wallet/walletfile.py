"""The smcli/smapp wallet file (spec/wallet.md §1.5).

A wallet file is a plaintext JSON object with a public "meta" section and a "crypto" section holding
the encrypted secrets (mnemonic, accounts, contacts):

* current format: AES-256-GCM (12-byte IV, tag appended to the ciphertext, no AAD) under a key
  PBKDF2-HMAC-SHA512(password, 16-byte salt, iterations, dklen bits / 8);
* legacy smapp/smrepl format ("AES-128-CTR"): AES-256-CTR, key from a fixed salt and 1,000,000
  PBKDF2 rounds, initial counter block 5.

We write smapp-style GCM (IV = HMAC-SHA512(key, plaintext)[:12], hash label "SHA-512",
iterations ≥ 210000 as smcli wants) with the union of both tools' secret fields, and read whatever
either tool wrote.  Files are written atomically with mode 0600 and a new wallet never replaces an
existing file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets as _random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core import atomicfile
from core.errors import InvalidInput, WalletFileError, WrongPassword
from core.wallet.mnemonic import mnemonic_to_seed, validate_mnemonic
from core.wallet.slip10 import HARDENED, MASTER_PATH, account_path, derive, parse_path

#: Iterations smcli writes and the least a wallet file written by us may use.
DEFAULT_ITERATIONS = 210_000
MIN_WRITE_ITERATIONS = 210_000

#: Key type of an account: a key we hold, or a key living on a Ledger device.
KEY_TYPE_SOFTWARE = 0
KEY_TYPE_LEDGER = 1

#: smcli's `MaxAccountsPerWallet`.
MAX_ACCOUNTS = 128

#: Mnemonic placeholder smcli stores in Ledger wallets.
LEDGER_MNEMONIC = "(none)"

GCM_CIPHER = "AES-GCM"
LEGACY_CIPHER = "AES-128-CTR"
LEGACY_SALT = b"Spacemesh blockmesh"
LEGACY_ITERATIONS = 1_000_000
LEGACY_COUNTER_BLOCK = bytes(15) + b"\x05"

_SALT_BYTES = 16
_KEY_BITS = 256
_WRONG_PASSWORD = "wrong password or corrupted wallet file"


# --------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Account:
    """One keypair stored in a wallet (smcli `EDKeyPair`, smapp `KeyPair`).

    `secret_key` is 64 bytes (seed ‖ public key) or b"" for a Ledger account.  `path` is kept as
    the file has it (smcli "m/44'/540'/0'/0'/0'", smapp "44'/540'/0'/0'/0'", old smapp "0/0/0").
    `extra` holds keys this module does not know, so that rewriting a file keeps them.
    """

    display_name: str
    created: str
    path: str
    public_key: bytes
    secret_key: bytes = field(default=b"", repr=False)
    key_type: int = KEY_TYPE_SOFTWARE
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The smcli/smapp JSON object of this account (hex without 0x)."""
        obj: dict[str, Any] = {
            "displayName": self.display_name,
            "created": self.created,
            "path": self.path,
            "publicKey": self.public_key.hex(),
            "secretKey": self.secret_key.hex(),
            "keyType": self.key_type,
        }
        for key, value in self.extra.items():
            obj.setdefault(key, value)
        return obj


@dataclass(frozen=True)
class WalletSecrets:
    """The encrypted part of a wallet: mnemonic, accounts, smcli's master keypair, smapp contacts."""

    mnemonic: str = field(repr=False)
    accounts: tuple[Account, ...] = ()
    master: Account | None = None
    contacts: tuple[dict, ...] = ()
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The plaintext JSON object: the union of smcli's and smapp's fields."""
        obj = {
            "mnemonic": self.mnemonic,
            "MasterKeypair": self.master.to_json() if self.master is not None else None,
            "accounts": [account.to_json() for account in self.accounts],
            "contacts": [dict(contact) for contact in self.contacts],
        }
        for key, value in self.extra.items():
            obj.setdefault(key, value)
        return obj


@dataclass(frozen=True)
class WalletMeta:
    """The public "meta" section; `extra` keeps other keys (smapp "type", "remoteApi", ...)."""

    display_name: str = "Main Wallet"
    created: str = ""
    genesis_id: str = ""
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        obj = {"displayName": self.display_name, "created": self.created, "genesisID": self.genesis_id}
        for key, value in self.extra.items():
            obj.setdefault(key, value)
        return obj


@dataclass(frozen=True)
class Wallet:
    """A decrypted wallet file.  Unpacks as `meta, secrets = wallet`."""

    meta: WalletMeta
    secrets: WalletSecrets

    def __iter__(self) -> Iterator[Any]:
        return iter((self.meta, self.secrets))


# --------------------------------------------------------------------------------------------
# Timestamps and paths


def format_timestamp(now: datetime | None = None) -> str:
    """smcli/smapp timestamp `YYYY-MM-DDTHH-MM-SS.mmmZ` in UTC (a naive datetime counts as UTC)."""
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.tzinfo is not None:
        now = now.astimezone(timezone.utc)
    return now.strftime("%Y-%m-%dT%H-%M-%S.") + f"{now.microsecond // 1000:03d}Z"


def default_wallet_directory() -> Path:
    """`~/.spacemesh`, where smcli keeps its wallets."""
    return Path.home() / ".spacemesh"


def default_wallet_path(directory: str | os.PathLike | None = None, now: datetime | None = None) -> Path:
    """smcli's file name for a new wallet: `<directory>/wallet_<timestamp>.json`."""
    base = Path(directory) if directory is not None else default_wallet_directory()
    return base / f"wallet_{format_timestamp(now)}.json"


# --------------------------------------------------------------------------------------------
# Building secrets


def _software_account(seed: bytes, path: str, name: str, created: str) -> Account:
    pair = derive(seed, path)
    return Account(
        display_name=name,
        created=created,
        path=pair.path,
        public_key=pair.public_key,
        secret_key=pair.secret_key,
        key_type=KEY_TYPE_SOFTWARE,
    )


def _check_count(count: int, least: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or not least <= count <= MAX_ACCOUNTS:
        raise InvalidInput(f"number of accounts must be between {least} and {MAX_ACCOUNTS}, not {count!r}")


def new_wallet_secrets(mnemonic: str, n_accounts: int = 1, *, now: datetime | None = None) -> WalletSecrets:
    """Secrets of a new software wallet as smcli makes them.

    The master keypair "Master Key" at m/44'/540'/0'/0' and accounts "Child Key i" at
    m/44'/540'/0'/0'/i' for i in 0..n_accounts-1, all from the BIP-39 seed (empty passphrase).
    """
    _check_count(n_accounts, 1)
    phrase = validate_mnemonic(mnemonic)
    seed = mnemonic_to_seed(phrase)
    created = format_timestamp(now)
    master = _software_account(seed, MASTER_PATH, "Master Key", created)
    accounts = tuple(
        _software_account(seed, account_path(i), f"Child Key {i}", created) for i in range(n_accounts)
    )
    return WalletSecrets(mnemonic=phrase, accounts=accounts, master=master)


def account_index(path: str) -> int | None:
    """Index i of a path m/44'/540'/0'/0'/i' (with or without the leading "m/"), else None."""
    text = path if path.startswith("m/") else "m/" + path
    try:
        indices = parse_path(text)
    except InvalidInput:
        return None
    if len(indices) != 5 or text.rsplit("/", 1)[0] != MASTER_PATH:
        return None
    return indices[4] - HARDENED


def add_accounts(secrets: WalletSecrets, count: int = 1, *, now: datetime | None = None) -> WalletSecrets:
    """Return `secrets` with `count` more software accounts after the highest existing index."""
    _check_count(count, 1)
    if secrets.mnemonic == LEDGER_MNEMONIC or any(a.key_type == KEY_TYPE_LEDGER for a in secrets.accounts):
        raise InvalidInput("this is a Ledger wallet: its keys live on the device, not in the mnemonic")
    if len(secrets.accounts) + count > MAX_ACCOUNTS:
        raise InvalidInput(
            f"a wallet holds at most {MAX_ACCOUNTS} accounts; this one has {len(secrets.accounts)}"
        )
    seed = mnemonic_to_seed(secrets.mnemonic)
    known = [i for i in (account_index(a.path) for a in secrets.accounts) if i is not None]
    start = max(known) + 1 if known else len(secrets.accounts)
    created = format_timestamp(now)
    new = tuple(
        _software_account(seed, account_path(i), f"Child Key {i}", created) for i in range(start, start + count)
    )
    return replace(secrets, accounts=secrets.accounts + new)


# --------------------------------------------------------------------------------------------
# Encryption


def derive_key(password: str, salt: bytes, iterations: int, length: int = 32) -> bytes:
    """PBKDF2-HMAC-SHA512(password UTF-8, salt, iterations, length bytes) — both tools' KDF."""
    if not isinstance(password, str):
        raise InvalidInput("a wallet password must be text")
    return hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, length)


def _plaintext(secrets: WalletSecrets) -> bytes:
    return json.dumps(secrets.to_json(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encrypt(
    secrets: WalletSecrets,
    password: str,
    meta: WalletMeta | None = None,
    iterations: int = DEFAULT_ITERATIONS,
) -> dict[str, Any]:
    """The outer wallet-file object for `secrets`, AES-GCM encrypted under `password`.

    Any iterations ≥ 1 are accepted here (tests use few for speed); `create_wallet_file` and
    `update_wallet_file` insist on at least 210000.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise InvalidInput(f"PBKDF2 iterations must be a positive integer, not {iterations!r}")
    if meta is None:
        meta = WalletMeta(created=format_timestamp())
    salt = _random.token_bytes(_SALT_BYTES)
    key = derive_key(password, salt, iterations, _KEY_BITS // 8)
    plaintext = _plaintext(secrets)
    # smapp's IV: deterministic per (key, plaintext); the salt is fresh, so the key is too.
    iv = hmac.digest(key, plaintext, hashlib.sha512)[:12]
    sealed = AESGCM(key).encrypt(iv, plaintext, None)
    return {
        "meta": meta.to_json(),
        "crypto": {
            "cipher": GCM_CIPHER,
            "cipherText": sealed.hex(),
            "cipherParams": {"iv": iv.hex()},
            "kdf": "PBKDF2",
            "kdfparams": {
                "dklen": _KEY_BITS,
                "hash": "SHA-512",
                "salt": salt.hex(),
                "iterations": iterations,
            },
        },
    }


# --------------------------------------------------------------------------------------------
# Decryption and parsing


def _unhex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise WalletFileError(f"not a valid wallet file: {what} is not a hex string")
    text = value[2:] if value[:2] in ("0x", "0X") else value
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise WalletFileError(f"not a valid wallet file: {what} is not valid hex") from None


def _text(obj: dict, key: str, what: str, default: str = "") -> str:
    value = obj.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise WalletFileError(f"not a valid wallet file: {what} is not a string")
    return value


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WalletFileError(f"not a valid wallet file: {what} is not a positive integer")
    return value


_ACCOUNT_KEYS = {"displayName", "created", "path", "publicKey", "secretKey", "keyType"}


def account_from_json(obj: Any, what: str = "account") -> Account:
    """Parse one smcli or smapp keypair object (missing keyType = software)."""
    if not isinstance(obj, dict):
        raise WalletFileError(f"not a valid wallet file: {what} is not an object")
    secret = _unhex(obj.get("secretKey") or "", f"{what} secretKey")
    if secret and len(secret) != 64:
        raise WalletFileError(f"not a valid wallet file: {what} secretKey is {len(secret)} bytes, not 64")
    if obj.get("publicKey"):
        public = _unhex(obj["publicKey"], f"{what} publicKey")
    elif secret:
        public = secret[32:]
    else:
        raise WalletFileError(f"not a valid wallet file: {what} has no publicKey")
    if len(public) != 32:
        raise WalletFileError(f"not a valid wallet file: {what} publicKey is {len(public)} bytes, not 32")
    key_type = obj.get("keyType", KEY_TYPE_SOFTWARE)
    if key_type is None:
        key_type = KEY_TYPE_SOFTWARE
    if isinstance(key_type, bool) or not isinstance(key_type, int):
        raise WalletFileError(f"not a valid wallet file: {what} keyType is not an integer")
    path = obj.get("path", "")
    if isinstance(path, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in path):
        # An HD path stored as its indices: render it the way smcli writes strings.
        path = "m" + "".join(f"/{i - HARDENED}'" if i >= HARDENED else f"/{i}" for i in path)
    elif path is None:
        path = ""
    elif not isinstance(path, str):
        raise WalletFileError(f"not a valid wallet file: {what} path is not a string")
    return Account(
        display_name=_text(obj, "displayName", f"{what} displayName"),
        created=_text(obj, "created", f"{what} created"),
        path=path,
        public_key=public,
        secret_key=secret,
        key_type=key_type,
        extra={k: v for k, v in obj.items() if k not in _ACCOUNT_KEYS},
    )


_SECRETS_KEYS = {"mnemonic", "MasterKeypair", "masterKeypair", "accounts", "contacts"}


def secrets_from_json(obj: Any) -> WalletSecrets:
    """Parse the decrypted secrets of an smcli or smapp wallet (unknown keys kept aside)."""
    if not isinstance(obj, dict):
        raise WalletFileError("not a valid wallet file: the decrypted secrets are not a JSON object")
    accounts = obj.get("accounts")
    accounts = [] if accounts is None else accounts
    if not isinstance(accounts, list):
        raise WalletFileError("not a valid wallet file: accounts is not a list")
    contacts = obj.get("contacts")
    contacts = [] if contacts is None else contacts
    if not isinstance(contacts, list) or not all(isinstance(c, dict) for c in contacts):
        raise WalletFileError("not a valid wallet file: contacts is not a list of objects")
    master_obj = obj.get("MasterKeypair", obj.get("masterKeypair"))
    return WalletSecrets(
        mnemonic=_text(obj, "mnemonic", "mnemonic"),
        accounts=tuple(account_from_json(a, f"account {i}") for i, a in enumerate(accounts)),
        master=account_from_json(master_obj, "MasterKeypair") if master_obj is not None else None,
        contacts=tuple(dict(c) for c in contacts),
        extra={k: v for k, v in obj.items() if k not in _SECRETS_KEYS},
    )


def meta_from_json(obj: Any) -> WalletMeta:
    """The public meta section of an outer wallet object (missing fields defaulted)."""
    if not isinstance(obj, dict):
        raise WalletFileError("not a valid wallet file: the top level is not a JSON object")
    meta = obj.get("meta")
    meta = {} if meta is None else meta
    if not isinstance(meta, dict):
        raise WalletFileError("not a valid wallet file: meta is not an object")
    return WalletMeta(
        display_name=_text(meta, "displayName", "meta displayName"),
        created=_text(meta, "created", "meta created"),
        genesis_id=_text(meta, "genesisID", "meta genesisID"),
        extra={k: v for k, v in meta.items() if k not in ("displayName", "created", "genesisID")},
    )


def _decrypt_gcm(crypto: dict, password: str) -> bytes:
    sealed = _unhex(crypto.get("cipherText"), "cipherText")
    params = crypto.get("cipherParams")
    if not isinstance(params, dict):
        raise WalletFileError("not a valid wallet file: cipherParams is missing")
    iv = _unhex(params.get("iv"), "cipherParams iv")
    kdf = crypto.get("kdf", "PBKDF2")
    if not isinstance(kdf, str) or kdf.upper() != "PBKDF2":
        raise WalletFileError(f"unsupported wallet key derivation {kdf!r}")
    kdfparams = crypto.get("kdfparams")
    if not isinstance(kdfparams, dict):
        raise WalletFileError("not a valid wallet file: kdfparams is missing")
    salt = _unhex(kdfparams.get("salt"), "kdfparams salt")
    iterations = _positive_int(kdfparams.get("iterations"), "kdfparams iterations")
    dklen = _positive_int(kdfparams.get("dklen", _KEY_BITS), "kdfparams dklen")
    if dklen not in (128, 192, 256):
        raise WalletFileError(f"unsupported wallet key length {dklen} bits")
    # The "hash" label is ignored: smcli writes "SHA-256" but, like smapp, derives with SHA-512.
    key = derive_key(password, salt, iterations, dklen // 8)
    if not 8 <= len(iv) <= 128:
        raise WalletFileError(f"not a valid wallet file: the IV is {len(iv)} bytes")
    try:
        return AESGCM(key).decrypt(iv, sealed, None)
    except InvalidTag:
        raise WrongPassword(_WRONG_PASSWORD) from None


def _decrypt_legacy(crypto: dict, password: str) -> bytes:
    ciphertext = _unhex(crypto.get("cipherText"), "cipherText")
    key = derive_key(password, LEGACY_SALT, LEGACY_ITERATIONS, 32)
    decryptor = Cipher(algorithms.AES(key), modes.CTR(LEGACY_COUNTER_BLOCK)).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def decrypt(obj: dict[str, Any], password: str) -> WalletSecrets:
    """Decrypt the secrets of an outer wallet-file object (GCM or legacy CTR) with `password`.

    Raises WrongPassword when the password does not open the file, WalletFileError when the
    object is not a wallet file this module understands.
    """
    if not isinstance(obj, dict):
        raise WalletFileError("not a valid wallet file: the top level is not a JSON object")
    crypto = obj.get("crypto")
    if not isinstance(crypto, dict):
        raise WalletFileError("not a valid wallet file: the crypto section is missing")
    cipher = crypto.get("cipher")
    if cipher == GCM_CIPHER:
        plaintext = _decrypt_gcm(crypto, password)
        try:
            parsed = json.loads(plaintext.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise WalletFileError("not a valid wallet file: the decrypted secrets are not JSON") from None
    elif cipher == LEGACY_CIPHER:
        plaintext = _decrypt_legacy(crypto, password)
        # CTR has no tag: a wrong key shows only as garbage where JSON should be.
        try:
            parsed = json.loads(plaintext.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise WrongPassword(_WRONG_PASSWORD) from None
        if not isinstance(parsed, dict):
            raise WrongPassword(_WRONG_PASSWORD)
    else:
        raise WalletFileError(f"unsupported wallet cipher {cipher!r}")
    return secrets_from_json(parsed)


# --------------------------------------------------------------------------------------------
# Files


def load_wallet_json(path: str | os.PathLike) -> dict[str, Any]:
    """Read a wallet file's outer JSON object (nothing is decrypted)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise WalletFileError(f"wallet file {os.fspath(path)} does not exist") from None
    except IsADirectoryError:
        raise WalletFileError(f"{os.fspath(path)} is a directory, not a wallet file") from None
    except OSError as exc:
        raise WalletFileError(f"cannot read wallet file {os.fspath(path)}: {exc.strerror}") from None
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WalletFileError(f"{os.fspath(path)} is not a valid wallet file: not JSON") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("crypto"), dict):
        raise WalletFileError(f"{os.fspath(path)} is not a valid wallet file: no crypto section")
    return obj


def read_wallet(path: str | os.PathLike, password: str) -> Wallet:
    """Open and decrypt a wallet file; `meta, secrets = read_wallet(path, password)`."""
    obj = load_wallet_json(path)
    return Wallet(meta=meta_from_json(obj), secrets=decrypt(obj, password))


def _serialize(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_wallet_file(path: str | os.PathLike, obj: dict[str, Any]) -> Path:
    """Write a new wallet file atomically with mode 0600; an existing file is never replaced.

    The directory is created with mode 0700 when missing (as smcli does for ~/.spacemesh).
    """
    target = Path(path)
    try:
        atomicfile.ensure_directory(target.parent)
        return atomicfile.write_new(target, _serialize(obj))
    except FileExistsError:
        raise WalletFileError(f"wallet file {target} already exists") from None
    except OSError as exc:
        raise WalletFileError(f"cannot write wallet file {target}: {exc.strerror or exc}") from None


def rewrite_wallet_file(path: str | os.PathLike, obj: dict[str, Any]) -> Path:
    """Atomically replace an existing wallet file (temp + fsync + rename), keeping mode 0600."""
    target = Path(path)
    if not target.is_file():
        raise WalletFileError(f"wallet file {target} does not exist")
    try:
        return atomicfile.replace(target, _serialize(obj))
    except OSError as exc:
        raise WalletFileError(f"cannot replace wallet file {target}: {exc.strerror or exc}") from None


def _check_write_iterations(iterations: int) -> None:
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < MIN_WRITE_ITERATIONS:
        raise InvalidInput(f"a wallet file needs at least {MIN_WRITE_ITERATIONS} PBKDF2 iterations")


def create_wallet_file(
    path: str | os.PathLike,
    secrets: WalletSecrets,
    password: str,
    meta: WalletMeta | None = None,
    iterations: int = DEFAULT_ITERATIONS,
) -> Path:
    """Encrypt `secrets` and write them to a new file at `path` (never overwriting)."""
    _check_write_iterations(iterations)
    return write_wallet_file(path, encrypt(secrets, password, meta, iterations))


def update_wallet_file(
    path: str | os.PathLike,
    wallet: Wallet,
    password: str,
    iterations: int = DEFAULT_ITERATIONS,
) -> Path:
    """Re-encrypt `wallet` (fresh salt) and atomically replace the existing file at `path`."""
    _check_write_iterations(iterations)
    return rewrite_wallet_file(path, encrypt(wallet.secrets, password, wallet.meta, iterations))
