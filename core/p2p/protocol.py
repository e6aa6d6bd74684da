"""What the network offers a node, whatever carries it (the in-process bus or the p2p host):
gossip topics, validation verdicts, the shapes of gossip handlers and request servers, and peer
addresses.  No transport is imported here (the CLI checks flags before gRPC is loaded)."""

from __future__ import annotations

import enum
from collections.abc import Callable

from core.errors import InvalidInput, SmeshError


class Topic(str, enum.Enum):
    """Gossip topics, named as go-spacemesh names them (spec §9.2)."""

    ATX = "ax1"
    PROPOSAL = "pp1"
    TX = "tx1"
    HARE = "/h/3.0"
    CERTIFY = "bc1"
    BEACON = "bp1"  # all beacon messages; the payload's first byte says which phase
    MALFEASANCE = "mp1"


class Verdict(enum.Enum):
    """What a gossip handler did with a message (libp2p's accept / reject / ignore)."""

    ACCEPT = "accept"
    REJECT = "reject"  # invalid: the sender would be penalised
    IGNORE = "ignore"  # valid but not useful now (duplicate, too old, unknown epoch...)


GossipHandler = Callable[[bytes, str], Verdict]
"""(payload, sending peer) -> verdict."""

RequestServer = Callable[[str, bytes], bytes | None]
"""(protocol, request) -> response, or None when the peer has nothing to say."""


class P2PError(SmeshError):
    """The host cannot start (e.g. its listen address is taken)."""


def parse_address(text: str, what: str = "address") -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidInput(f"{what} {text!r} is not HOST:PORT")
    return host, int(port)
