"""Domain-separated ed25519 signatures (spec/node.md §0, spec/wallet.md §3.3).

Node messages sign `genesis id ‖ domain byte ‖ message`; transactions sign `genesis id ‖ unsigned
tx`.  The genesis-id prefix makes every signature valid on one network only.
"""

from __future__ import annotations

import enum

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

from core.errors import InvalidInput

GENESIS_ID_SIZE = 20
SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32


class Domain(enum.IntEnum):
    ATX = 0
    PROPOSAL = 1
    BALLOT = 2
    HARE = 3
    POET = 4
    MARRIAGE = 5
    BEACON_FIRST_MSG = 10
    BEACON_FOLLOWUP_MSG = 11


def signing_key(secret_key: bytes) -> SigningKey:
    """A pynacl signing key from a 32-byte seed or a 64-byte Go-layout key (seed ‖ public key)."""
    if len(secret_key) == 64:
        key = SigningKey(secret_key[:32])
        if bytes(key.verify_key) != secret_key[32:]:
            raise InvalidInput("secret key's public half does not match its seed")
        return key
    if len(secret_key) == 32:
        return SigningKey(secret_key)
    raise InvalidInput(f"secret key must be 32 or 64 bytes, got {len(secret_key)}")


def public_key_of(secret_key: bytes) -> bytes:
    return bytes(signing_key(secret_key).verify_key)


def _check_genesis(genesis_id: bytes) -> None:
    if len(genesis_id) != GENESIS_ID_SIZE:
        raise InvalidInput(f"genesis id must be {GENESIS_ID_SIZE} bytes, got {len(genesis_id)}")


def sign_raw(secret_key: bytes, message: bytes) -> bytes:
    """Plain RFC 8032 ed25519 (no prefix): used for smapp-style text signing."""
    return signing_key(secret_key).sign(message).signature


def verify_raw(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        # libsodium's crypto_sign_open, as VerifyKey.verify calls it, without building a VerifyKey per check
        crypto_sign_open(bytes(signature) + bytes(message), bytes(public_key))
    except (BadSignatureError, ValueError):
        return False
    return True


def sign_message(secret_key: bytes, genesis_id: bytes, domain: Domain, message: bytes) -> bytes:
    """A node-message signature over genesis id ‖ domain ‖ message."""
    _check_genesis(genesis_id)
    return sign_raw(secret_key, genesis_id + bytes([domain]) + message)


def verify_message(public_key: bytes, genesis_id: bytes, domain: Domain, message: bytes, signature: bytes) -> bool:
    _check_genesis(genesis_id)
    return verify_raw(public_key, genesis_id + bytes([domain]) + message, signature)


def sign_tx(secret_key: bytes, genesis_id: bytes, unsigned_tx: bytes) -> bytes:
    """A transaction signature over genesis id ‖ unsigned tx bytes."""
    _check_genesis(genesis_id)
    return sign_raw(secret_key, genesis_id + unsigned_tx)


def verify_tx(public_key: bytes, genesis_id: bytes, unsigned_tx: bytes, signature: bytes) -> bool:
    _check_genesis(genesis_id)
    return verify_raw(public_key, genesis_id + unsigned_tx, signature)
