"""The PoET gRPC API (`rpc.api.v1.PoetService`, spec/poet.md §2.7) on grpc.aio.

Server reflection is on when grpcio-reflection is installed (as the Go poet has it); without
it the service still serves, and `REFLECTION` says so.
"""

from __future__ import annotations

import logging

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from core.errors import InvalidInput
from core.poet.pow import PowParams
from core.poet.rounds import duration_parts
from core.poet.rpc import poet_pb2, poet_pb2_grpc
from core.poet.service import ApiError, Certificate, PoetService, SubmitRequest

log = logging.getLogger("smesh.poet.grpc")

try:  # optional dependency: grpcio-reflection
    from grpc_reflection.v1alpha import reflection as _reflection
except ImportError:  # pragma: no cover - depends on the environment
    _reflection = None

REFLECTION = _reflection is not None
SERVICE_NAME = poet_pb2.DESCRIPTOR.services_by_name["PoetService"].full_name
MAX_MESSAGE = 64 * 1024 * 1024  # proofs carry the whole members list

_STATUS = {code.value[0]: code for code in grpc.StatusCode}


def _duration(seconds: float) -> duration_pb2.Duration:
    secs, nanos = duration_parts(seconds)
    return duration_pb2.Duration(seconds=secs, nanos=nanos)


def _timestamp_seconds(ts: timestamp_pb2.Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def submit_from_proto(req: poet_pb2.SubmitRequest) -> SubmitRequest:
    pow_params = None
    if req.HasField("pow_params"):
        pow_params = PowParams(req.pow_params.difficulty, bytes(req.pow_params.challenge))
    certificate = None
    if req.HasField("certificate"):
        certificate = Certificate(bytes(req.certificate.data), bytes(req.certificate.signature))
    return SubmitRequest(
        challenge=bytes(req.challenge),
        pubkey=bytes(req.pubkey),
        signature=bytes(req.signature),
        prefix=bytes(req.prefix),
        nonce=req.nonce,
        pow_params=pow_params,
        deadline=_timestamp_seconds(req.deadline) if req.HasField("deadline") else None,
        certificate=certificate,
        certificate_pubkey_hint=bytes(req.certificate_pubkey_hint) if req.HasField("certificate_pubkey_hint") else None,
    )


class PoetServicer(poet_pb2_grpc.PoetServiceServicer):
    def __init__(self, service: PoetService) -> None:
        self.service = service

    async def _fail(self, context: grpc.aio.ServicerContext, e: ApiError) -> None:
        await context.abort(_STATUS.get(e.code, grpc.StatusCode.INTERNAL), str(e))

    async def PowParams(self, request, context):  # noqa: N802, ANN001 - generated names
        p = self.service.pow_params()
        return poet_pb2.PowParamsResponse(pow_params=poet_pb2.PowParams(difficulty=p.difficulty, challenge=p.challenge))

    async def Submit(self, request, context):  # noqa: N802, ANN001
        try:
            result = await self.service.submit(submit_from_proto(request))
        except ApiError as e:
            await self._fail(context, e)
        return poet_pb2.SubmitResponse(round_id=result.round_id, round_end=_duration(result.round_end))

    async def Info(self, request, context):  # noqa: N802, ANN001
        info = self.service.info()
        out = poet_pb2.InfoResponse(
            service_pubkey=info.service_pubkey,
            phase_shift=_duration(info.phase_shift),
            cycle_gap=_duration(info.cycle_gap),
        )
        if info.certifier_pubkey is not None or info.certifier_url is not None:
            out.certifier.url = info.certifier_url or ""
            out.certifier.pubkey = info.certifier_pubkey or b""
        return out

    async def Proof(self, request, context):  # noqa: N802, ANN001
        try:
            p = await self.service.proof(request.round_id)
        except ApiError as e:
            await self._fail(context, e)
        return poet_pb2.ProofResponse(
            proof=poet_pb2.PoetProof(
                proof=poet_pb2.MerkleProof(root=p.root, proven_leaves=p.proven_leaves, proof_nodes=p.proof_nodes),
                members=p.members,
                leaves=p.leaves,
            ),
            pubkey=p.pubkey,
        )


async def start_grpc(service: PoetService, host: str, port: int) -> tuple[grpc.aio.Server, tuple[str, int]]:
    """Serve PoetService on host:port (0 picks a free port); returns the server and the bound address."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.max_receive_message_length", 1024 * 1024),
            ("grpc.keepalive_time_ms", 120 * 60 * 1000),
            ("grpc.max_connection_age_ms", 180 * 60 * 1000),
        ]
    )
    poet_pb2_grpc.add_PoetServiceServicer_to_server(PoetServicer(service), server)
    if _reflection is not None:
        _reflection.enable_server_reflection((SERVICE_NAME, _reflection.SERVICE_NAME), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as e:
        reason = "the port is taken or the address is not local" if "Failed to bind" in str(e) else str(e)
        raise InvalidInput(f"cannot listen on {address} for gRPC: {reason}") from None
    if bound == 0:
        raise InvalidInput(f"cannot listen on {address} for gRPC")
    await server.start()
    return server, (host, bound)
