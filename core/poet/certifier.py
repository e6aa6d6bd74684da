"""Registration certificates from a PoST certifier (spec/poet.md §2.3.1).

A certificate is `data = SCALE(CertOnWire{Pubkey: bytes ≤ 32, Expiration: Option<compact u64>})`
signed (plain ed25519, no domain prefix) by a certifier key the PoET trusts.  It admits the node
whose id equals `Pubkey` until `Expiration` (Unix seconds), if any.

Trusted keys are the configured certifier key plus every `*.key` file (a base64 ed25519 public
key) in the trusted-keys directory.  A submit names its certifier by a 4-byte hint (the first
bytes of its public key); without one only the configured certifier key is tried.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from core.codec import Bytes, Compact, Option, Struct
from core.crypto.signing import PUBLIC_KEY_SIZE, sign_raw, verify_raw
from core.errors import DecodeError, InvalidInput, SmeshError

HINT_SIZE = 4
MAX_CERTIFICATE_SIZE = 1024


class CertificateError(SmeshError):
    """A certificate that does not admit this node (HTTP 401 at the API)."""


class CertOnWire(Struct):
    pubkey: Annotated[bytes, Bytes(32)]
    expiration: Annotated[int | None, Option(Compact(64))]


def make_certificate(certifier_secret: bytes, node_id: bytes, expiration: int | None = None) -> tuple[bytes, bytes]:
    """(data, signature) of a certificate for `node_id` (what a certifier's /certify returns)."""
    data = CertOnWire(bytes(node_id), expiration).encode()
    return data, sign_raw(certifier_secret, data)


def parse_public_key(text: str, what: str = "certifier public key") -> bytes:
    """A 32-byte ed25519 public key from base64 (or hex, for convenience)."""
    clean = text.strip()
    raw: bytes | None = None
    if len(clean) == 64:
        try:
            raw = bytes.fromhex(clean)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(clean + "=" * (-len(clean) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"{what} is neither base64 nor hex") from None
    if len(raw) != PUBLIC_KEY_SIZE:
        raise InvalidInput(f"{what} must be {PUBLIC_KEY_SIZE} bytes, got {len(raw)}")
    return raw


def load_trusted_keys(directory: Path) -> tuple[bytes, ...]:
    """The public keys in `directory/*.key`, sorted by file name; unreadable files are errors."""
    if not directory.is_dir():
        raise InvalidInput(f"trusted keys directory {directory} does not exist")
    keys = []
    for path in sorted(directory.glob("*.key")):
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidInput(f"cannot read trusted key {path}: {getattr(e, 'strerror', None) or e}") from None
        keys.append(parse_public_key(text, f"trusted key {path.name}"))
    return tuple(keys)


@dataclasses.dataclass(frozen=True)
class Certifier:
    """What Info reports about the certifier, plus every key a certificate may be signed with."""

    url: str | None
    pubkey: bytes | None
    trusted: tuple[bytes, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.pubkey is not None or bool(self.trusted)

    def all_keys(self) -> tuple[bytes, ...]:
        keys: list[bytes] = [self.pubkey] if self.pubkey is not None else []
        keys += [k for k in self.trusted if k not in keys]
        return tuple(keys)

    def candidates(self, hint: bytes | None) -> Iterable[bytes]:
        if hint is None:
            if self.pubkey is None:
                raise CertificateError("no certifier public key hint given and no default certifier configured")
            return (self.pubkey,)
        if len(hint) != HINT_SIZE:
            raise InvalidInput(f"certificate public key hint must be {HINT_SIZE} bytes, got {len(hint)}")
        found = [k for k in self.all_keys() if k[:HINT_SIZE] == hint]
        if not found:
            raise CertificateError("no trusted certifier key matches the certificate public key hint")
        return found


def check_certificate(
    certifier: Certifier,
    node_id: bytes,
    data: bytes,
    signature: bytes,
    hint: bytes | None,
    now: float,
) -> None:
    """Raise CertificateError unless the certificate admits `node_id` at `now`."""
    if len(data) > MAX_CERTIFICATE_SIZE:
        raise CertificateError(f"certificate data is too large ({len(data)} bytes)")
    keys = certifier.candidates(hint)
    if not any(verify_raw(key, data, signature) for key in keys):
        raise CertificateError("invalid certificate: bad signature")
    try:
        cert = CertOnWire.decode(data)
    except DecodeError as e:
        raise CertificateError(f"invalid certificate: {e}") from None
    if cert.pubkey != bytes(node_id):
        raise CertificateError("invalid certificate: it was issued for another node id")
    if cert.expiration is not None and cert.expiration <= now:
        raise CertificateError("invalid certificate: it has expired")
