"""The node's network identity (spec/node.md §9.1): an ed25519 key kept 0600 in the data directory.

The peer id is written as libp2p writes an ed25519 peer id (the identity multihash of the
protobuf-encoded public key, base58btc: `12D3KooW...`), so ids look like the ones go-spacemesh
logs.  Our links are not libp2p links (spec §11: interop with Go nodes is out of scope); the id
format is only what users recognise.
"""

from __future__ import annotations

import os
from pathlib import Path

import base58

from core import atomicfile
from core.crypto.signing import public_key_of
from core.errors import InvalidInput, SmeshError

KEY_FILE = Path("p2p") / "p2p.key"  # under the node's data directory: hex of the 32-byte seed
_LIBP2P_ED25519_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])  # identity multihash, PublicKey{Ed25519}


def peer_id(public_key: bytes) -> str:
    """The libp2p-style peer id of an ed25519 public key."""
    if len(public_key) != 32:
        raise ValueError("an ed25519 public key has 32 bytes")
    return base58.b58encode(_LIBP2P_ED25519_PREFIX + public_key).decode()


def public_key_of_peer(peer: str) -> bytes:
    """The public key inside a peer id (the inverse of `peer_id`)."""
    try:
        raw = base58.b58decode(peer.encode())
    except ValueError:
        raw = b""
    if len(raw) != 38 or not raw.startswith(_LIBP2P_ED25519_PREFIX):
        raise InvalidInput(f"{peer!r} is not an ed25519 peer id (12D3KooW...)")
    return raw[len(_LIBP2P_ED25519_PREFIX) :]


def load_or_create_key(data_dir: Path) -> bytes:
    """The node's p2p key seed: read from `data_dir/p2p/p2p.key`, created (0600) on the first start."""
    path = data_dir / KEY_FILE
    if path.exists():
        try:
            seed = bytes.fromhex(path.read_text().strip())
        except (OSError, ValueError) as e:
            raise SmeshError(f"cannot read the p2p key {path}: {e}") from None
        if len(seed) != 32:
            raise SmeshError(f"cannot read the p2p key {path}: expected 32 bytes of hex, found {len(seed)}")
        return seed
    atomicfile.ensure_directory(path.parent)
    seed = os.urandom(32)
    atomicfile.write_new(path, seed.hex().encode())
    return seed


def local_peer_id(seed: bytes) -> str:
    return peer_id(public_key_of(seed))
