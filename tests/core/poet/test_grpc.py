"""The gRPC API: checked-in generated code, field numbers of spec/poet.md §2.7, a live server."""

from __future__ import annotations

import base64
import os
import time

import grpc
import pytest
from google.protobuf import descriptor_pb2, timestamp_pb2

from core.poet import grpc_server
from core.poet.rpc import generate, poet_pb2, poet_pb2_grpc
from core.poet.service import ServiceConfig
from tests.core.poet.test_service import Node, ServerThread, http, idle_schedule, schedule


def test_checked_in_code_is_current():
    assert generate.stale_files() == []


def _numbers(message) -> dict[str, int]:
    return {f.name: f.number for f in message.DESCRIPTOR.fields}


def test_package_service_and_field_numbers():
    service = poet_pb2.DESCRIPTOR.services_by_name["PoetService"]
    assert service.full_name == "rpc.api.v1.PoetService"
    assert {m.name: (m.input_type.name, m.output_type.name) for m in service.methods} == {
        "PowParams": ("PowParamsRequest", "PowParamsResponse"),
        "Submit": ("SubmitRequest", "SubmitResponse"),
        "Info": ("InfoRequest", "InfoResponse"),
        "Proof": ("ProofRequest", "ProofResponse"),
    }
    assert _numbers(poet_pb2.SubmitRequest) == {
        "nonce": 1, "pow_params": 2, "prefix": 3, "challenge": 4, "pubkey": 5, "signature": 6,
        "deadline": 7, "certificate": 8, "certificate_pubkey_hint": 9,
    }  # fmt: skip
    assert _numbers(poet_pb2.SubmitRequest.Certificate) == {"data": 1, "signature": 2}
    assert _numbers(poet_pb2.SubmitResponse) == {"round_id": 1, "round_end": 3}
    assert _numbers(poet_pb2.InfoResponse) == {"service_pubkey": 3, "phase_shift": 4, "cycle_gap": 5, "certifier": 6}
    assert _numbers(poet_pb2.InfoResponse.Cerifier) == {"url": 1, "pubkey": 2}
    assert _numbers(poet_pb2.PowParams) == {"difficulty": 1, "challenge": 2}
    assert _numbers(poet_pb2.PowParamsResponse) == {"pow_params": 1}
    assert _numbers(poet_pb2.MerkleProof) == {"root": 1, "proven_leaves": 2, "proof_nodes": 3}
    assert _numbers(poet_pb2.PoetProof) == {"proof": 1, "members": 2, "leaves": 3}
    assert _numbers(poet_pb2.ProofRequest) == {"round_id": 1}
    assert _numbers(poet_pb2.ProofResponse) == {"proof": 1, "pubkey": 2}
    # the formerly used Info fields (open and executing round ids) stay reserved, as does Submit's 2
    assert _reserved(poet_pb2.InfoResponse) == {1, 2}
    assert _reserved(poet_pb2.SubmitResponse) == {2}


def _reserved(message) -> set[int]:
    proto = descriptor_pb2.DescriptorProto()
    message.DESCRIPTOR.CopyToProto(proto)
    return {n for r in proto.reserved_range for n in range(r.start, r.end)}


def _proto_submit(node: Node, pow_challenge: bytes, **changes) -> poet_pb2.SubmitRequest:
    req = node.request()
    fields = dict(
        challenge=req.challenge,
        pubkey=req.pubkey,
        signature=req.signature,
        prefix=req.prefix,
        pow_params=poet_pb2.PowParams(difficulty=0, challenge=pow_challenge),
    )
    fields.update(changes)
    return poet_pb2.SubmitRequest(**fields)


def test_live_grpc_calls_and_status_codes(tmp_path):
    config = ServiceConfig(datadir=tmp_path, schedule=idle_schedule())
    with ServerThread(config) as srv, grpc.insecure_channel(srv.grpc_target) as channel:
        stub = poet_pb2_grpc.PoetServiceStub(channel)
        info = stub.Info(poet_pb2.InfoRequest(), timeout=10)
        assert info.service_pubkey == srv.service.pubkey
        assert (info.phase_shift.seconds, info.cycle_gap.seconds) == (3600, 60)
        assert not info.HasField("certifier")
        params = stub.PowParams(poet_pb2.PowParamsRequest(), timeout=10).pow_params
        assert params.difficulty == 0 and len(params.challenge) == 32

        n = Node()
        deadline = timestamp_pb2.Timestamp(seconds=int(config.schedule.round_end(0)) + 10)
        out = stub.Submit(_proto_submit(n, params.challenge, deadline=deadline), timeout=10)
        assert out.round_id == "0"
        assert 0 < out.round_end.seconds <= config.schedule.round_end(0) - time.time() + 1

        failures = [
            (_proto_submit(n, params.challenge, challenge=os.urandom(32)), grpc.StatusCode.INVALID_ARGUMENT),  # bad sig
            (_proto_submit(n, os.urandom(32)), grpc.StatusCode.INVALID_ARGUMENT),  # stale PoW params
            (_proto_submit(n, params.challenge, pubkey=b"short"), grpc.StatusCode.INVALID_ARGUMENT),
            (
                _proto_submit(n, params.challenge, deadline=timestamp_pb2.Timestamp(seconds=1)),
                grpc.StatusCode.FAILED_PRECONDITION,
            ),
        ]
        other = Node()
        other.secret, other.id = n.secret, n.id  # the same node id with another challenge
        failures.append((_proto_submit(other, params.challenge), grpc.StatusCode.ALREADY_EXISTS))
        for req, code in failures:
            with pytest.raises(grpc.RpcError) as err:
                stub.Submit(req, timeout=10)
            assert err.value.code() == code
            assert err.value.details()
        with pytest.raises(grpc.RpcError) as err:
            stub.Proof(poet_pb2.ProofRequest(round_id="0"), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as err:
            stub.Proof(poet_pb2.ProofRequest(round_id="not-a-round"), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert stub.Info(poet_pb2.InfoRequest(), timeout=10).service_pubkey == srv.service.pubkey


def test_grpc_proof_equals_rest_proof(tmp_path):
    config = ServiceConfig(datadir=tmp_path, schedule=schedule(phase_shift=2.0, epoch=2.5, cycle_gap=1.0))
    with ServerThread(config) as srv, grpc.insecure_channel(srv.grpc_target) as channel:
        stub = poet_pb2_grpc.PoetServiceStub(channel)
        params = stub.PowParams(poet_pb2.PowParamsRequest(), timeout=10).pow_params
        nodes = [Node(), Node()]
        rounds = {stub.Submit(_proto_submit(n, params.challenge), timeout=10).round_id for n in nodes}
        assert len(rounds) == 1
        (round_id,) = rounds
        end = time.time() + 30
        while True:
            try:
                got = stub.Proof(poet_pb2.ProofRequest(round_id=round_id), timeout=10)
                break
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.NOT_FOUND and time.time() < end
                time.sleep(0.2)
        status, rest = http("GET", f"{srv.url}/v1/proofs/{round_id}")
    assert status == 200
    assert got.pubkey == base64.b64decode(rest["pubkey"])
    assert got.proof.leaves == int(rest["proof"]["leaves"]) >= 150
    assert list(got.proof.members) == [base64.b64decode(m) for m in rest["proof"]["members"]]
    assert got.proof.proof.root == base64.b64decode(rest["proof"]["proof"]["root"])
    assert list(got.proof.proof.proven_leaves) == [base64.b64decode(x) for x in rest["proof"]["proof"]["provenLeaves"]]
    assert list(got.proof.proof.proof_nodes) == [base64.b64decode(x) for x in rest["proof"]["proof"]["proofNodes"]]
    assert sorted(got.proof.members) != [] and set(got.proof.members) == {n.challenge for n in nodes}


@pytest.mark.skipif(not grpc_server.REFLECTION, reason="grpcio-reflection is not installed")
def test_reflection_lists_the_service(tmp_path):  # pragma: no cover - needs grpcio-reflection
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    config = ServiceConfig(datadir=tmp_path, schedule=idle_schedule())
    with ServerThread(config) as srv, grpc.insecure_channel(srv.grpc_target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert "rpc.api.v1.PoetService" in names
