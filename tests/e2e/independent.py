"""Reference computations for e2e expectations, written from spec/wallet.md with plain libraries.

Nothing here imports smesh code: hashlib/hmac (BIP-39 seed, SLIP-10), PyNaCl (ed25519), blake3
and bech32 (addresses, §2).  Each helper is checked against a spec vector in test_independent.py.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

import bech32
import blake3
import nacl.exceptions
import nacl.signing

WALLET, MULTISIG, VESTING, VAULT = 1, 2, 3, 4


def template_address(template_id: int) -> bytes:
    """24 bytes: 23 zero bytes and the template id (§2.2)."""
    return bytes(23) + bytes([template_id])


def principal(template_id: int, scale_args: bytes) -> bytes:
    """`00000000` ‖ BLAKE3(template ‖ SCALE(args))[12:32] (§2.2)."""
    return bytes(4) + blake3.blake3(template_address(template_id) + scale_args).digest()[12:]


def encode(raw: bytes, hrp: str) -> str:
    """Classic bech32 of the 24 address bytes (§2.1)."""
    assert len(raw) == 24
    return bech32.bech32_encode(hrp, bech32.convertbits(raw, 8, 5))


def decode(text: str) -> tuple[str, bytes]:
    hrp, data = bech32.bech32_decode(text)
    assert hrp is not None and data is not None, text
    raw = bytes(bech32.convertbits(data, 5, 8, False))
    return hrp, raw


def slip10_key(mnemonic: str, index: int) -> nacl.signing.SigningKey:
    """ed25519 key at m/44'/540'/0'/0'/index' of a BIP-39 mnemonic with an empty passphrase."""
    seed = hashlib.pbkdf2_hmac("sha512", mnemonic.encode(), b"mnemonic", 2048)
    digest = hmac.new(b"ed25519 seed", seed, hashlib.sha512).digest()
    key, chain = digest[:32], digest[32:]
    for element in (44, 540, 0, 0, index):
        data = b"\x00" + key + struct.pack(">I", element | 0x80000000)
        digest = hmac.new(chain, data, hashlib.sha512).digest()
        key, chain = digest[:32], digest[32:]
    return nacl.signing.SigningKey(key)


def bip39_checksum_ok(words: list[str], wordlist: list[str]) -> bool:
    bits = "".join(f"{wordlist.index(w):011b}" for w in words)
    cs = len(bits) // 33
    entropy = int(bits[:-cs], 2).to_bytes((len(bits) - cs) // 8, "big")
    return bits[-cs:] == f"{hashlib.sha256(entropy).digest()[0]:08b}"[:cs]


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except nacl.exceptions.BadSignatureError:
        return False
    return True
