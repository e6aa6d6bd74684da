"""The JSON/HTTP gateway: grpc-gateway v2 behaviour in front of the node's gRPC listener (spec/api-ecosystem.md §1.2).

Like go-spacemesh's grpc-gateway, the gateway is a reverse proxy: it holds a grpc.aio channel to the public gRPC
listener and forwards each HTTP request as one gRPC call, so the JSON API can never answer differently from the
gRPC API. Methods are called generically (`/<service>/<method>` with the message classes found through the
generated modules' descriptors), so a method added to gateway_routes.METHODS needs no code here.

HTTP rules (what a browser wallet or `curl -X POST` sees):

* `POST /<package>.<Service>/<Method>` for every mounted method, and `POST /v1/...` for the v1 REST aliases;
* the body is protojson (lowerCamelCase or proto field names; an empty body is the empty message); malformed
  JSON, a body that is not an object, an unknown field, or a bytes field that is not base64 as protojson reads
  it (standard or URL-safe, padded or not) is HTTP 400;
* a unary reply is protojson as grpc-gateway's default marshaler writes it (`to_protojson`: lowerCamelCase,
  64-bit integers as strings, bytes as base64, enums by name, and EmitUnpopulated: every field written, zero or
  not, an unset message field as null, only unset oneof members left out; browser wallets such as smapp-lite
  need those fields) and `Content-Type: application/json`;
* a server stream answers `Content-Type: application/json` with a chunked body of newline-delimited objects,
  `{"result": {...}}` per message and a last `{"error": {"code", "message", "details"}}` line when the stream
  fails after its first message — the same content type and framing as grpc-gateway, so clients written for
  go-spacemesh work unchanged. A stream that fails before its first message is answered like a unary error.
  The gRPC call is cancelled when the HTTP client goes away;
* gRPC errors map to HTTP statuses as grpc-gateway maps them (`HTTP_STATUS`), with a
  `{"code": <grpc code>, "message": ..., "details": [...]}` body; an unreachable gRPC target is 503;
* an unknown path is 404 and another HTTP method on a known path is 405, both with the same error body;
* CORS for the configured origins (go-spacemesh's `grpc-cors-allowed-origin`), preflight included;
* request bodies are limited to 10 MiB (go-spacemesh's grpc-recv-msg-size), larger ones get 413.

Request headers reach the gRPC call as grpc-gateway forwards them: `Authorization`, `Grpc-Metadata-<key>` as
`<key>`, `Grpc-Timeout` as the call's deadline, plus `x-forwarded-for`/`x-forwarded-host`; the reply's header
metadata comes back as `Grpc-Metadata-<key>` headers.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import ipaddress
import json
import logging
import pkgutil
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError, Message

from core.api import gateway_routes
from core.api.gateway_routes import Listener, Route
from core.api.gen.google.rpc import status_pb2
from core.errors import InvalidInput
from core.httplog import ClientErrorLog

log = logging.getLogger("smesh.api.gateway")

MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # go-spacemesh grpc-recv-msg-size / grpc-send-msg-size
SHUTDOWN_GRACE = 2.0  # bound on aiohttp's wait for a connection's handler in stop() (handlers are cancelled first)

# grpc-gateway's runtime.HTTPStatusFromCode
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

_JSON = "application/json"
_ALLOWED_METHODS = "POST, OPTIONS"
_METADATA_KEY = re.compile(r"^[0-9a-z_.\-]+$")
_GRPC_TIMEOUT = re.compile(r"^(\d{1,8})([HMSmun])$")
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def http_status(code: grpc.StatusCode) -> int:
    """The HTTP status grpc-gateway answers for a gRPC status code (500 for one it does not know)."""
    return HTTP_STATUS.get(code, 500)


def dial_target(listen: str) -> str:
    """The address to dial for a gRPC listener: a wildcard host (0.0.0.0, ::, empty) is reached on loopback."""
    host, sep, port = listen.rpartition(":")
    if not sep:
        return listen
    bare = host.strip("[]")
    if bare in ("", "0.0.0.0"):
        return f"127.0.0.1:{port}"
    if bare == "::":
        return f"[::1]:{port}"
    return listen


@functools.cache
def load_generated_modules() -> None:
    """Import every generated *_pb2 module so the default descriptor pool knows all services and messages."""
    import core.api.gen as gen

    for info in pkgutil.walk_packages(gen.__path__, prefix=f"{gen.__name__}."):
        if info.name.endswith("_pb2"):
            importlib.import_module(info.name)


@dataclass(frozen=True)
class _Method:
    """One mounted gRPC method: its HTTP route and how to (de)serialize its messages."""

    route: Route
    request_class: type[Message]
    response_class: type[Message]
    server_streaming: bool


def _resolve(route: Route) -> _Method | None:
    """The message classes of a route's method, or None when the generated code does not define the method."""
    try:
        service = descriptor_pool.Default().FindServiceByName(route.service)
        method = service.methods_by_name[route.method]
    except KeyError:
        return None
    return _Method(
        route,
        message_factory.GetMessageClass(method.input_type),
        message_factory.GetMessageClass(method.output_type),
        method.server_streaming,
    )


def _parse_listen(listen: str) -> tuple[str | None, int]:
    """Split "host:port" ("[v6]:port" for IPv6; an empty host binds every interface)."""
    host, sep, port_text = listen.rpartition(":")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not sep or not 0 <= port <= 65535:
        raise InvalidInput(f"invalid JSON gateway listen address {listen!r}: expected host:port")
    return (host or None), port


def _bind(host: str | None, port: int) -> socket.socket:
    """A bound TCP socket for the first address of host (one socket, so port 0 gives one port)."""
    family = socket.AF_UNSPEC
    if host is not None:
        try:
            family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        except ValueError:
            pass  # a host name: let getaddrinfo pick
    infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    af, kind, proto, _, addr = infos[0]
    sock = socket.socket(af, kind, proto)
    try:
        # SO_REUSEADDR only lets a restart bind past TIME_WAIT; a port with a live listener still fails
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _address(sockname: Any) -> str:
    """host:port of a bound socket ([v6]:port for IPv6)."""
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _dumps(obj: Any) -> bytes:
    """Compact JSON as grpc-gateway writes it (no spaces, UTF-8 as is)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# messages protojson writes in a special form (a string, a number, a bare JSON value): never walked field by field
_WELL_KNOWN = frozenset(
    f"google.protobuf.{name}"
    for name in (
        "Any", "Timestamp", "Duration", "FieldMask", "Struct", "ListValue", "Value", "NullValue", "DoubleValue",
        "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value", "BoolValue", "StringValue",
        "BytesValue",
    )
)  # fmt: skip


def to_protojson(message: Message) -> Any:
    """A message as grpc-gateway's default marshaler writes it (protojson with EmitUnpopulated).

    lowerCamelCase names, 64-bit integers as strings, bytes as base64, enums by name; every field is written,
    set or not: a zero scalar as its zero ("0" for a 64-bit one, "" for bytes), an empty list as [], an unset
    message field as null. Only fields with explicit presence inside a oneof (a real oneof, or a proto3
    `optional` field) are left out while unset, as protojson leaves them out. Fields are in declaration order.
    """
    out = _message_to_dict(message)
    _emit_unset_messages(message, out)
    return out


def _message_to_dict(message: Message) -> Any:
    """json_format with every field without presence written (the option's name before protobuf 5.26 differs)."""
    try:
        return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    except TypeError:  # protobuf < 5.26
        return json_format.MessageToDict(message, including_default_value_fields=True)


def _is_repeated(field: Any) -> bool:
    is_repeated = getattr(field, "is_repeated", None)  # protobuf >= 6.31; `label` is gone in 7
    return bool(is_repeated) if is_repeated is not None else field.label == field.LABEL_REPEATED


def _emit_unset_messages(message: Message, out: Any) -> None:
    """Complete json_format's output as protojson's EmitUnpopulated does: null for every unset singular message
    field outside a oneof (json_format skips fields with presence), recursively, and fields in declaration order."""
    descriptor = message.DESCRIPTOR
    if descriptor.full_name == "google.protobuf.Any":
        _emit_unset_in_any(message, out)
        return
    if descriptor.full_name in _WELL_KNOWN or not isinstance(out, dict):
        return
    for field in descriptor.fields:
        if field.message_type is None:
            continue
        if field.containing_oneof is not None and not message.HasField(field.name):
            continue  # an unset oneof member (or proto3 optional) stays out
        value = getattr(message, field.name)
        if field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.message_type is not None:
                for key, item in value.items():
                    _emit_unset_messages(item, out[field.json_name][_map_key(key)])
        elif _is_repeated(field):
            for item, item_out in zip(value, out[field.json_name]):
                _emit_unset_messages(item, item_out)
        elif message.HasField(field.name):
            _emit_unset_messages(value, out[field.json_name])
        else:
            out[field.json_name] = None
    order = {field.json_name: i for i, field in enumerate(descriptor.fields)}
    ordered = sorted(out.items(), key=lambda item: order.get(item[0], len(order)))
    out.clear()
    out.update(ordered)


def _emit_unset_in_any(message: Message, out: Any) -> None:
    """An Any's packed message, when its type is known and is no well-known type (those are written as "value")."""
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(message.TypeName())
    except KeyError:
        return
    if descriptor.full_name in _WELL_KNOWN or not isinstance(out, dict):
        return
    inner = message_factory.GetMessageClass(descriptor)()
    if message.Unpack(inner):
        type_url = out.pop("@type", None)
        _emit_unset_messages(inner, out)
        if type_url is not None:
            items = list(out.items())
            out.clear()
            out.update([("@type", type_url), *items])


def _map_key(key: Any) -> str:
    """A map key as protojson writes it: a JSON object key."""
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _base64_pattern(alphabet: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(padded, unpadded) full-string patterns of base64 over `alphabet` (the two characters after 0-9A-Za-z)."""
    c = f"[A-Za-z0-9{re.escape(alphabet)}]"
    return re.compile(f"(?:{c}{{4}})*(?:{c}{{2}}==|{c}{{3}}=)?"), re.compile(f"(?:{c}{{4}})*(?:{c}{{2,3}})?")


_STD_BASE64 = _base64_pattern("+/")
_URL_BASE64 = _base64_pattern("-_")


def is_protojson_base64(text: str) -> bool:
    """Whether protojson (Go's encoding/protojson, which grpc-gateway uses) accepts `text` for a bytes field:
    standard base64, or URL-safe when it has "-" or "_"; padded when its length is a multiple of 4, unpadded
    otherwise; line breaks are skipped.  json_format alone would drop characters outside the alphabet and decode
    "!!!" as no bytes at all."""
    padded, unpadded = _URL_BASE64 if "-" in text or "_" in text else _STD_BASE64
    pattern = padded if len(text) % 4 == 0 else unpadded
    return pattern.fullmatch(text.replace("\r", "").replace("\n", "")) is not None


def bytes_field_problem(document: Any, descriptor: Any, path: str = "") -> str | None:
    """The first bytes field of a JSON request (parsed, for a message of `descriptor`) whose string is not base64,
    as a one-line message naming the field; None when every one is (other mistakes are json_format's to report)."""
    if descriptor.full_name == "google.protobuf.BytesValue":
        return _bad_bytes(path or "value", document)
    if descriptor.full_name in _WELL_KNOWN or not isinstance(document, dict):
        return None
    by_json_name = {field.json_name: field for field in descriptor.fields}
    for key, value in document.items():
        field = by_json_name.get(key) or descriptor.fields_by_name.get(key)
        if field is None or value is None:
            continue
        name = f"{path}.{key}" if path else key
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            items = [(f"{name}[{k!r}]", v) for k, v in value.items()] if isinstance(value, dict) else []
        elif _is_repeated(field):
            value_field = field
            items = [(f"{name}[{i}]", v) for i, v in enumerate(value)] if isinstance(value, list) else []
        else:
            value_field, items = field, [(name, value)]
        for item_name, item in items:
            if value_field.type == value_field.TYPE_BYTES:
                problem = _bad_bytes(item_name, item)
            elif value_field.message_type is not None:
                problem = bytes_field_problem(item, value_field.message_type, item_name)
            else:
                continue
            if problem is not None:
                return problem
    return None


def _bad_bytes(name: str, value: Any) -> str | None:
    if not isinstance(value, str) or is_protojson_base64(value):
        return None  # a value of the wrong JSON type is json_format's to refuse
    shown = json.dumps(value if len(value) <= 40 else value[:40] + "...", ensure_ascii=False)
    return f"invalid value for bytes field {name}: {shown} is not base64"


def _error_body(code: grpc.StatusCode, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    """The google.rpc.Status object grpc-gateway writes for an error."""
    return {"code": code.value[0], "message": message, "details": details or []}


def _status_details(err: grpc.aio.AioRpcError) -> list[Any]:
    """The error's google.rpc.Status details (grpc-status-details-bin), each Any as protojson; unknown types dropped."""
    for key, value in err.trailing_metadata() or ():
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except DecodeError:
            return []
        details = []
        for detail in status.details:
            try:
                details.append(to_protojson(detail))
            except (TypeError, KeyError, ValueError, json_format.Error):
                log.debug("dropping error detail of unknown type %s", detail.type_url)
        return details
    return []


def _rpc_error_body(err: grpc.aio.AioRpcError) -> dict[str, Any]:
    return _error_body(err.code(), err.details() or "", _status_details(err))


def _json_response(status: int, obj: Any, headers: Mapping[str, str]) -> web.Response:
    reason = "Client Closed Request" if status == 499 else None  # nginx's name; http.HTTPStatus lacks 499
    return web.Response(status=status, reason=reason, body=_dumps(obj), content_type=_JSON, headers=headers)


def _error_response(
    status: int, code: grpc.StatusCode, message: str, headers: Mapping[str, str], details: list[Any] | None = None
) -> web.Response:
    return _json_response(status, _error_body(code, message, details), headers)


def _response_metadata_headers(metadata: Any) -> dict[str, str]:
    """gRPC header metadata as grpc-gateway returns it: `Grpc-Metadata-<key>` (binary values are left out)."""
    out: dict[str, str] = {}
    for key, value in metadata or ():
        if isinstance(value, str) and value.isascii() and value.isprintable():
            out[f"Grpc-Metadata-{key}"] = value
    return out


class _BadRequest(Exception):
    """A request the gateway refuses before calling gRPC: (HTTP status, gRPC code, message)."""

    def __init__(self, status: int, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class JsonGateway:
    """The JSON/HTTP gateway: `await start()` binds `listen` and returns the port; `await stop()` shuts it down.

    `target` is the gRPC address to forward to (see `dial_target` for a wildcard listener); `cors_origins` lists
    the origins a browser may call from ("*" allows any, "https://*.example.com" one wildcard); `services` the
    full gRPC service names to mount (default: those on the public listener, as go-spacemesh mounts them).
    """

    def __init__(
        self,
        target: str,
        listen: str,
        cors_origins: Sequence[str] = (),
        services: Sequence[str] | None = None,
    ) -> None:
        self.target = target
        self.listen = listen
        self._bind_address = _parse_listen(listen)
        self.cors_origins: tuple[str, ...] = tuple(o.strip().rstrip("/").lower() for o in cors_origins if o.strip())
        if services is None:
            services = [name for name, listener in gateway_routes.SERVICES.items() if listener is Listener.PUBLIC]
        unknown = sorted(set(services) - set(gateway_routes.SERVICES))
        if unknown:
            raise InvalidInput(f"the JSON gateway cannot mount unknown service(s): {', '.join(unknown)}")
        self.services: tuple[str, ...] = tuple(services)
        load_generated_modules()
        self._methods: dict[str, _Method] = {}
        mounted = set(self.services)
        for route in gateway_routes.routes():
            if route.service not in mounted:
                continue
            method = _resolve(route)
            if method is None:
                log.warning("JSON gateway: %s has no generated descriptor; not mounted", route.grpc_path)
                continue
            self._methods[route.path] = method
        self.port: int | None = None
        self._channel: grpc.aio.Channel | None = None
        self._callables: dict[str, Callable[..., Any]] = {}
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def paths(self) -> list[str]:
        """Every HTTP path the gateway serves (POST), sorted."""
        return sorted(self._methods)

    async def start(self) -> int:
        """Open the gRPC channel, bind `listen` (port 0 picks a free one) and serve; returns the bound port."""
        if self._runner is not None:
            raise RuntimeError("JSON gateway already started")
        host, port = self._bind_address
        try:
            sock = _bind(host, port)
        except OSError as e:
            raise InvalidInput(f"cannot listen on {self.listen} for the JSON gateway: {e.strerror or e}") from None
        # the channel exists before the first request can arrive; it connects lazily, so a target that is down
        # now is no start-up error (requests get 503 until it is up)
        self._channel = grpc.aio.insecure_channel(
            self.target,
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.primary_user_agent", "smesh-json-gateway"),
            ],
        )
        app = web.Application(client_max_size=MAX_MESSAGE_BYTES)
        app.router.add_route("*", "/{path:.*}", self._handle)
        # handler_cancellation: a client that goes away cancels its handler and with it the gRPC call
        # a client that is no HTTP/1.1 client (a gRPC client on this port) is one warning line, not a traceback
        bound = _address(sock.getsockname())
        server_log = ClientErrorLog(log, f"JSON gateway {bound}", "JSON")
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=SHUTDOWN_GRACE, logger=server_log
        )
        try:
            await runner.setup()
            site = web.SockSite(runner, sock)
            await site.start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            channel, self._channel = self._channel, None
            await channel.close(None)
            raise
        self._callables = {}
        self._runner = runner
        self.port = sock.getsockname()[1]
        log.info("JSON gateway listening on %s (port %d), forwarding to %s", self.listen, self.port, self.target)
        return self.port

    async def stop(self) -> None:
        """Stop serving: in-flight requests (open streams included) are cancelled; a no-op when not started."""
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        for site in list(runner.sites):
            await site.stop()  # no new connections
        for task in list(self._handlers):
            task.cancel()
        await runner.cleanup()
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close(None)

    # --- HTTP handling ---------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            return await self._dispatch(request)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if (
            request.method == "OPTIONS"
            and self.cors_origins
            and origin is not None
            and "Access-Control-Request-Method" in request.headers
        ):
            return self._preflight(request, origin)
        headers = self._cors_headers(origin)
        method = self._methods.get(request.path)
        if method is None:
            return _error_response(404, grpc.StatusCode.NOT_FOUND, "Not Found", headers)
        if request.method != "POST":  # grpc-gateway's routing error: HTTP 405 with gRPC code UNIMPLEMENTED
            headers["Allow"] = "POST"
            return _error_response(405, grpc.StatusCode.UNIMPLEMENTED, "Method Not Allowed", headers)
        try:
            message = await self._read_request(request, method)
            metadata = self._outgoing_metadata(request)
            timeout = self._timeout(request)
        except _BadRequest as e:
            return _error_response(e.status, e.code, e.message, headers)
        if self._channel is None:  # stopping
            return _error_response(503, grpc.StatusCode.UNAVAILABLE, "the JSON gateway is shutting down", headers)
        if method.server_streaming:
            return await self._stream(request, method, message, metadata, timeout, headers)
        return await self._unary(method, message, metadata, timeout, headers)

    def _origin_allowed(self, origin: str) -> bool:
        origin = origin.lower()
        for allowed in self.cors_origins:
            if allowed == "*" or allowed == origin:
                return True
            prefix, star, suffix = allowed.partition("*")
            fits = len(origin) >= len(prefix) + len(suffix)
            if star and fits and origin.startswith(prefix) and origin.endswith(suffix):
                return True
        return False

    def _cors_headers(self, origin: str | None) -> dict[str, str]:
        """CORS headers of a normal response: none without an allowed Origin, so a browser blocks the reply."""
        if not self.cors_origins:
            return {}
        headers = {"Vary": "Origin"}
        if origin is not None and self._origin_allowed(origin):
            headers["Access-Control-Allow-Origin"] = "*" if "*" in self.cors_origins else origin
        return headers

    def _preflight(self, request: web.Request, origin: str) -> web.Response:
        """Answer a CORS preflight (before routing, as rs/cors does); a refused one gets no CORS headers."""
        headers = {"Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}
        wanted = request.headers.get("Access-Control-Request-Method", "").strip().upper()
        if self._origin_allowed(origin) and wanted in ("POST", "OPTIONS"):
            headers["Access-Control-Allow-Origin"] = "*" if "*" in self.cors_origins else origin
            headers["Access-Control-Allow-Methods"] = _ALLOWED_METHODS
            headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers", "Content-Type"
            ).strip() or "Content-Type"
            headers["Access-Control-Max-Age"] = "600"
        return web.Response(status=204, headers=headers)

    async def _read_request(self, request: web.Request, method: _Method) -> Message:
        """The request message from the protojson body (an empty body is the empty message)."""
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _BadRequest(
                413, grpc.StatusCode.RESOURCE_EXHAUSTED, f"request body larger than {MAX_MESSAGE_BYTES} bytes"
            ) from None
        message = method.request_class()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _BadRequest(400, grpc.StatusCode.INVALID_ARGUMENT, "request body is not UTF-8") from None
        if not text.strip():
            return message
        if not text.lstrip().startswith("{"):
            raise _BadRequest(400, grpc.StatusCode.INVALID_ARGUMENT, "request body must be a JSON object")
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            pass  # malformed JSON: json_format.Parse below says what is wrong
        else:
            problem = bytes_field_problem(document, message.DESCRIPTOR)
            if problem is not None:
                raise _BadRequest(400, grpc.StatusCode.INVALID_ARGUMENT, problem)
        try:
            json_format.Parse(text, message)
        except (json_format.ParseError, ValueError, TypeError, RecursionError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise _BadRequest(400, grpc.StatusCode.INVALID_ARGUMENT, first) from None
        return message

    @staticmethod
    def _outgoing_metadata(request: web.Request) -> list[tuple[str, str]]:
        """The HTTP headers grpc-gateway forwards to the gRPC call by default."""
        metadata: list[tuple[str, str]] = []

        def add(key: str, value: str) -> None:
            if _METADATA_KEY.match(key) and not key.endswith("-bin") and value.isascii() and value.isprintable():
                metadata.append((key, value))

        for name, value in request.headers.items():
            lower = name.lower()
            if lower == "authorization":
                add(lower, value)
            elif lower.startswith("grpc-metadata-"):
                add(lower[len("grpc-metadata-"):], value)
        if request.host:
            add("x-forwarded-host", request.host)
        peer = request.remote
        if peer:
            earlier = request.headers.get("X-Forwarded-For")
            add("x-forwarded-for", f"{earlier}, {peer}" if earlier else peer)
        return metadata

    @staticmethod
    def _timeout(request: web.Request) -> float | None:
        """The call deadline from a `Grpc-Timeout` header (gRPC's format: digits and a unit, e.g. 500m, 10S)."""
        value = request.headers.get("Grpc-Timeout")
        if value is None:
            return None
        match = _GRPC_TIMEOUT.match(value.strip())
        if match is None:
            raise _BadRequest(400, grpc.StatusCode.INVALID_ARGUMENT, f"invalid Grpc-Timeout header {value!r}")
        return int(match.group(1)) * _TIMEOUT_UNITS[match.group(2)]

    def _callable(self, method: _Method) -> Callable[..., Any]:
        """The cached generic multicallable of a method on the current channel."""
        path = method.route.grpc_path
        call = self._callables.get(path)
        if call is None:
            assert self._channel is not None
            factory = self._channel.unary_stream if method.server_streaming else self._channel.unary_unary
            call = factory(
                path,
                request_serializer=method.request_class.SerializeToString,
                response_deserializer=method.response_class.FromString,
            )
            self._callables[path] = call
        return call

    async def _unary(
        self,
        method: _Method,
        message: Message,
        metadata: list[tuple[str, str]],
        timeout: float | None,
        headers: dict[str, str],
    ) -> web.Response:
        call = self._callable(method)(message, metadata=metadata, timeout=timeout)
        try:
            reply = await call
            headers.update(_response_metadata_headers(await call.initial_metadata()))
        except grpc.aio.AioRpcError as err:
            return _json_response(http_status(err.code()), _rpc_error_body(err), headers)
        finally:
            if not call.done():  # the HTTP client went away (or stop()): drop the gRPC call too
                call.cancel()
        return _json_response(200, to_protojson(reply), headers)

    async def _stream(
        self,
        request: web.Request,
        method: _Method,
        message: Message,
        metadata: list[tuple[str, str]],
        timeout: float | None,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        call = self._callable(method)(message, metadata=metadata, timeout=timeout)
        try:
            # the first message decides the HTTP status: a stream refused up front is an ordinary error reply
            try:
                item = await call.read()
            except grpc.aio.AioRpcError as err:
                return _json_response(http_status(err.code()), _rpc_error_body(err), headers)
            headers.update(_response_metadata_headers(await call.initial_metadata()))
            response = web.StreamResponse(status=200, headers=headers)
            response.content_type = _JSON
            response.enable_chunked_encoding()
            try:
                await response.prepare(request)
                try:
                    while item is not grpc.aio.EOF:
                        await response.write(_dumps({"result": to_protojson(item)}) + b"\n")
                        item = await call.read()
                except grpc.aio.AioRpcError as err:
                    await response.write(_dumps({"error": _rpc_error_body(err)}) + b"\n")
                await response.write_eof()
            except ConnectionError:  # the client went away between two messages; aiohttp closes the connection
                log.debug("JSON gateway: client of %s disconnected", method.route.grpc_path)
            return response
        finally:
            if not call.done():  # the HTTP client went away (or stop()): drop the gRPC call too
                call.cancel()
