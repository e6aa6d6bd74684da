"""One log line, not a traceback, for a client that does not speak HTTP/1.1 to one of our aiohttp listeners.

aiohttp logs a request it cannot parse with its full traceback ("Error handling request from ...").  On the JSON
gateway and the PoET REST port that is usually a gRPC client pointed at the wrong port: it opens with the HTTP/2
preface `PRI * HTTP/2.0`.  The client still gets aiohttp's 400 and the listener keeps serving; only the log
changes.  Pass `ClientErrorLog(...)` as the runner's `logger` (aiohttp's public `logger=` handler option).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError, InvalidURLError

AIOHTTP_SERVER_LOG = logging.getLogger("aiohttp.server")


def _is_http2_preface(exc: HttpProcessingError) -> bool:
    """Whether aiohttp's parser stopped at the HTTP/2 preface: the C parser names PRI; the pure-Python one refuses
    the `*` target, which HTTP/1.1 allows only for OPTIONS."""
    return "PRI" in str(exc) or (isinstance(exc, InvalidURLError) and exc.message.strip() == "*")


class ClientErrorLog(logging.LoggerAdapter):
    """aiohttp's server logger, except that a request aiohttp could not parse becomes one line on `log`:
    a warning (debug where aiohttp itself logs at debug) naming the listener and the peer, without a traceback.

    `listener` is the address the listener serves ("127.0.0.1:9093"); `port_name` says which port a client
    expected to find there ("JSON", "REST")."""

    def __init__(self, log: logging.Logger, listener: str, port_name: str) -> None:
        super().__init__(AIOHTTP_SERVER_LOG, {})
        self.own, self.listener, self.port_name = log, listener, port_name

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            peer = args[0] if args else None
            self.own.log(min(level, logging.WARNING), "%s", self.describe(exc, peer))
            return
        super().log(level, msg, *args, **kwargs)

    def describe(self, exc: HttpProcessingError, peer: object) -> str:
        source = f" from {peer}" if peer else ""
        if _is_http2_preface(exc):
            what = f"not HTTP/1.1 (an HTTP/2 or gRPC client on the {self.port_name} port?)"
        else:
            lines = str(exc.message or "").strip().splitlines()
            reason = lines[0].strip() if lines else type(exc).__name__
            what = f"not a valid HTTP/1.1 request ({reason})"
        return f"{self.listener}: {what}{source}"
