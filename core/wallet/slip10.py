"""SLIP-10 key derivation for ed25519, hardened only (spec/wallet.md §1.2, §1.3).

Spacemesh derives keys with SLIP-10 (not BIP32-Ed25519): every path element is hardened because
ed25519 SLIP-10 has no public-parent derivation.  Accounts live at m/44'/540'/0'/0'/i'; smcli's
"master" keypair is m/44'/540'/0'/0'.  Keys are stored Go-style: a 64-byte secret key = 32-byte
ed25519 seed ‖ 32-byte public key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from nacl.signing import SigningKey

from core.errors import InvalidInput
from core.wallet.mnemonic import mnemonic_to_seed

#: Bit that marks a hardened index.
HARDENED = 0x8000_0000

#: SLIP-44 purpose and coin type of Spacemesh.
PURPOSE = 44
COIN_TYPE = 540

#: Path of smcli's "master" keypair; accounts hang below it.
MASTER_PATH = "m/44'/540'/0'/0'"

_CURVE_KEY = b"ed25519 seed"
_PATH_RE = re.compile(r"^m(/\d+'?)+$")
_MIN_SEED, _MAX_SEED = 16, 64


@dataclass(frozen=True)
class ExtendedKey:
    """A SLIP-10 node: 32-byte private key and 32-byte chain code."""

    key: bytes = field(repr=False)
    chain_code: bytes = field(repr=False)


@dataclass(frozen=True)
class KeyPair:
    """An ed25519 keypair derived at `path`.

    `secret_key` is 64 bytes in Go's `ed25519.PrivateKey` layout (seed ‖ public key), the form
    smcli and smapp store in wallet files.
    """

    path: str
    secret_key: bytes = field(repr=False)
    public_key: bytes

    @property
    def seed(self) -> bytes:
        """The 32-byte ed25519 seed (RFC 8032 private key)."""
        return self.secret_key[:32]


def parse_path(path: str) -> tuple[int, ...]:
    """Parse "m/44'/540'/0'/0'/0'" into indices with the hardened bit set.

    Follows smcli's syntax (`^m(/\\d+'?)+$`, apostrophe = hardened).  A non-hardened element is
    rejected: ed25519 SLIP-10 cannot derive it.
    """
    if not isinstance(path, str) or not _PATH_RE.match(path):
        raise InvalidInput(f"invalid HD path {path!r}: expected a form like m/44'/540'/0'/0'/0'")
    indices = []
    for element in path.split("/")[1:]:
        if not element.endswith("'"):
            raise InvalidInput(
                f"invalid HD path {path!r}: element {element} is not hardened "
                f"(ed25519 derivation needs every element hardened, e.g. {element}')"
            )
        index = int(element[:-1])
        if index >= HARDENED:
            raise InvalidInput(f"invalid HD path {path!r}: index {index} is larger than 2^31 - 1")
        indices.append(index | HARDENED)
    return tuple(indices)


def format_path(indices: Sequence[int]) -> str:
    """Inverse of `parse_path`: (0x8000002c, ...) → "m/44'/..."; every index must be hardened."""
    parts = ["m"]
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int) or not HARDENED <= index <= 0xFFFF_FFFF:
            raise InvalidInput(f"HD path index {index!r} is not a hardened 32-bit index")
        parts.append(f"{index - HARDENED}'")
    return "/".join(parts)


def account_path(index: int) -> str:
    """Path of account `index` as smcli and smapp derive it: m/44'/540'/0'/0'/index'."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < HARDENED:
        raise InvalidInput(f"account index must be between 0 and 2^31 - 1, not {index!r}")
    return f"{MASTER_PATH}/{index}'"


def master_key(seed: bytes) -> ExtendedKey:
    """SLIP-10 master node: I = HMAC-SHA512("ed25519 seed", seed); key = I[:32], chain = I[32:]."""
    if not isinstance(seed, (bytes, bytearray)) or not _MIN_SEED <= len(seed) <= _MAX_SEED:
        raise InvalidInput(f"a SLIP-10 seed is {_MIN_SEED} to {_MAX_SEED} bytes")
    digest = hmac.digest(_CURVE_KEY, bytes(seed), hashlib.sha512)
    return ExtendedKey(key=digest[:32], chain_code=digest[32:])


def derive_child(parent: ExtendedKey, index: int) -> ExtendedKey:
    """Hardened child: I = HMAC-SHA512(chain, 0x00 ‖ key ‖ uint32_be(index))."""
    if isinstance(index, bool) or not isinstance(index, int) or not HARDENED <= index <= 0xFFFF_FFFF:
        raise InvalidInput(f"HD path index {index!r} is not a hardened 32-bit index")
    data = b"\x00" + parent.key + index.to_bytes(4, "big")
    digest = hmac.digest(parent.chain_code, data, hashlib.sha512)
    return ExtendedKey(key=digest[:32], chain_code=digest[32:])


def keypair_from_seed32(ed25519_seed: bytes, path: str = "") -> KeyPair:
    """Build a KeyPair from a 32-byte ed25519 seed (public key by RFC 8032 expansion)."""
    if len(ed25519_seed) != 32:
        raise InvalidInput("an ed25519 seed is 32 bytes")
    public = bytes(SigningKey(bytes(ed25519_seed)).verify_key)
    return KeyPair(path=path, secret_key=bytes(ed25519_seed) + public, public_key=public)


def derive(seed: bytes, path: str | Sequence[int]) -> KeyPair:
    """Derive the ed25519 keypair at `path` (a path string or hardened indices) from `seed`.

    `seed` may be 16 to 64 bytes as SLIP-10 allows; Spacemesh wallets always pass the 64-byte
    BIP-39 seed.
    """
    indices = parse_path(path) if isinstance(path, str) else tuple(path)
    node = master_key(seed)
    for index in indices:
        node = derive_child(node, index)
    return keypair_from_seed32(node.key, format_path(indices))


def keypair_from_mnemonic(phrase: str, index: int = 0) -> KeyPair:
    """Keypair of account `index` of a BIP-39 phrase (empty passphrase), as smcli/smapp derive it."""
    return derive(mnemonic_to_seed(phrase), account_path(index))
