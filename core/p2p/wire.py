"""What two linked peers send each other (ours to design, spec/node.md §9.5 and ARCHITECTURE.md).

Every frame is one message of a gRPC bidirectional stream: a kind byte, then a SCALE body whose
fields carry their own size limits (decoding rejects oversize fields and trailing bytes).

A link starts with a handshake bound to the network (spec §9.1: libp2p binds links with a Noise
prologue of the genesis id): each side sends `Hello` (network, key, a fresh nonce, the address it
listens on), then `Auth`, an ed25519 signature over the handshake domain, the genesis id, the
*other* side's nonce and its own key.  A peer of another network is refused at `Hello`; a peer
that cannot sign for the key it claims is refused at `Auth`.  Then either side sends gossip,
requests, responses and peer addresses in any order.
"""

from __future__ import annotations

import enum
from typing import Annotated

from core.codec import Bytes, Compact, FixedBytes, Option, Slice, String, Struct
from core.crypto.signing import sign_raw, verify_raw
from core.errors import DecodeError

PROTOCOL_VERSION = 1
HANDSHAKE_DOMAIN = b"smesh-p2p/1 handshake"
MAX_GOSSIP = 2 << 20  # one gossip payload (an ATX or a proposal with many tx ids fits easily)
MAX_REQUEST = 64 << 10
MAX_RESPONSE = 8 << 20  # epoch ATX id lists are the largest answers
MAX_FRAME = MAX_RESPONSE + 1024  # what the gRPC stream accepts; anything bigger ends the link
MAX_ADDRESSES = 64
ADDRESS_LEN = 255


class Kind(enum.IntEnum):
    HELLO = 0
    AUTH = 1
    GOSSIP = 2
    REQUEST = 3
    RESPONSE = 4
    PEERS = 5


class Hello(Struct):
    version: Annotated[int, Compact(16)]
    genesis_id: Annotated[bytes, FixedBytes(20)]
    public_key: Annotated[bytes, FixedBytes(32)]
    nonce: Annotated[bytes, FixedBytes(32)]
    listen: Annotated[str, String(ADDRESS_LEN)]  # "" when the peer accepts no connections


class Auth(Struct):
    signature: Annotated[bytes, FixedBytes(64)]


class Gossip(Struct):
    topic: Annotated[str, String(32)]
    payload: Annotated[bytes, Bytes(MAX_GOSSIP)]


class Request(Struct):
    id: Annotated[int, Compact(64)]
    protocol: Annotated[str, String(32)]
    payload: Annotated[bytes, Bytes(MAX_REQUEST)]


class Response(Struct):
    """spec §9.3: a response is {Data, Error}; no data and no error: the peer does not have it."""

    id: Annotated[int, Compact(64)]
    data: Annotated[bytes | None, Option(Bytes(MAX_RESPONSE))]
    error: Annotated[str, String(255)]


class Peers(Struct):
    addresses: Annotated[tuple[str, ...], Slice(String(ADDRESS_LEN), MAX_ADDRESSES)]


BODIES: dict[Kind, type[Struct]] = {
    Kind.HELLO: Hello, Kind.AUTH: Auth, Kind.GOSSIP: Gossip, Kind.REQUEST: Request, Kind.RESPONSE: Response,
    Kind.PEERS: Peers,
}  # fmt: skip


def encode_frame(body: Struct) -> bytes:
    kind = next(k for k, cls in BODIES.items() if isinstance(body, cls))
    return bytes([kind]) + body.encode()


def decode_frame(frame: bytes) -> Struct:
    """The frame's body; DecodeError for an unknown kind, an oversize field or trailing bytes."""
    if not frame:
        raise DecodeError("empty frame")
    try:
        kind = Kind(frame[0])
    except ValueError:
        raise DecodeError(f"unknown frame kind {frame[0]}") from None
    try:
        return BODIES[kind].decode(frame[1:])
    except ValueError as e:  # a codec-level refusal that is not a DecodeError
        raise DecodeError(str(e)) from None


def handshake_message(genesis_id: bytes, their_nonce: bytes, my_public_key: bytes) -> bytes:
    return HANDSHAKE_DOMAIN + genesis_id + their_nonce + my_public_key


def sign_handshake(seed: bytes, genesis_id: bytes, their_nonce: bytes, my_public_key: bytes) -> Auth:
    return Auth(sign_raw(seed, handshake_message(genesis_id, their_nonce, my_public_key)))


def verify_handshake(auth: Auth, genesis_id: bytes, my_nonce: bytes, their_public_key: bytes) -> bool:
    return verify_raw(their_public_key, handshake_message(genesis_id, my_nonce, their_public_key), auth.signature)
