"""The API protos: generated code is current, services/methods/streaming kinds, field numbers, routes.

Facts checked here come from the spacemeshos/api repository (spacemesh/v1/*.proto, spacemesh/v2alpha1/*.proto
and the generated release/go/spacemesh/{v1,v2alpha1}/*.pb.go, whose struct tags and raw descriptors carry the
field numbers) and from /work/shared/spec (api-ecosystem.md §1, wallet.md §3.8); each table names its source
and, where several upstream versions differ, the commit read. v1 follows the newest stored versions (what
go-spacemesh v1.7.x serves), v2alpha1 the newest (HEAD-era, protoc-gen-go v1.36) generated code. The expected
values are written out by hand, never derived from the code under test.
"""

from __future__ import annotations

import importlib
from concurrent import futures

import grpc
import pytest
from google.protobuf import descriptor_pb2, empty_pb2, json_format

from core.api import gateway_routes, generate
from core.api.gen.google.rpc import status_pb2
from core.api.gen.spacemesh.v1 import activation_pb2 as v1_activation
from core.api.gen.spacemesh.v1 import global_state_pb2 as v1_global_state
from core.api.gen.spacemesh.v1 import mesh_pb2 as v1_mesh
from core.api.gen.spacemesh.v1 import node_pb2 as v1_node
from core.api.gen.spacemesh.v1 import smesher_pb2 as v1_smesher
from core.api.gen.spacemesh.v1 import tx_pb2 as v1_tx
from core.api.gen.spacemesh.v1 import types_pb2 as v1_types
from core.api.gen.spacemesh.v2alpha1 import account_pb2, activation_pb2, block_pb2, layer_pb2, network_pb2, node_pb2
from core.api.gen.spacemesh.v2alpha1 import node_pb2_grpc, reward_pb2, tx_pb2, v2alpha1_pb2

EMPTY = "google.protobuf.Empty"
U, SS = "unary", "server-stream"

# service -> {method: (request, response, kind)}; names and kinds as in the upstream service definitions
SERVICES = {
    "spacemesh.v1.NodeService": {
        "Echo": ("spacemesh.v1.EchoRequest", "spacemesh.v1.EchoResponse", U),
        "Version": (EMPTY, "spacemesh.v1.VersionResponse", U),
        "Status": ("spacemesh.v1.StatusRequest", "spacemesh.v1.StatusResponse", U),
        "NodeInfo": (EMPTY, "spacemesh.v1.NodeInfoResponse", U),
    },
    "spacemesh.v1.MeshService": {
        "GenesisTime": ("spacemesh.v1.GenesisTimeRequest", "spacemesh.v1.GenesisTimeResponse", U),
        "GenesisID": ("spacemesh.v1.GenesisIDRequest", "spacemesh.v1.GenesisIDResponse", U),
        "CurrentLayer": ("spacemesh.v1.CurrentLayerRequest", "spacemesh.v1.CurrentLayerResponse", U),
        "CurrentEpoch": ("spacemesh.v1.CurrentEpochRequest", "spacemesh.v1.CurrentEpochResponse", U),
        "LayerDuration": ("spacemesh.v1.LayerDurationRequest", "spacemesh.v1.LayerDurationResponse", U),
        "EpochNumLayers": ("spacemesh.v1.EpochNumLayersRequest", "spacemesh.v1.EpochNumLayersResponse", U),
        "LayersQuery": ("spacemesh.v1.LayersQueryRequest", "spacemesh.v1.LayersQueryResponse", U),
        "LayerStream": ("spacemesh.v1.LayerStreamRequest", "spacemesh.v1.LayerStreamResponse", SS),
    },
    "spacemesh.v1.GlobalStateService": {
        "Account": ("spacemesh.v1.AccountRequest", "spacemesh.v1.AccountResponse", U),
        "AccountDataQuery": ("spacemesh.v1.AccountDataQueryRequest", "spacemesh.v1.AccountDataQueryResponse", U),
    },
    "spacemesh.v1.TransactionService": {
        "SubmitTransaction": ("spacemesh.v1.SubmitTransactionRequest", "spacemesh.v1.SubmitTransactionResponse", U),
        "ParseTransaction": ("spacemesh.v1.ParseTransactionRequest", "spacemesh.v1.ParseTransactionResponse", U),
        "TransactionsState": ("spacemesh.v1.TransactionsStateRequest", "spacemesh.v1.TransactionsStateResponse", U),
        "StreamResults": ("spacemesh.v1.TransactionResultsRequest", "spacemesh.v1.TransactionResult", SS),
    },
    "spacemesh.v1.SmesherService": {
        "IsSmeshing": (EMPTY, "spacemesh.v1.IsSmeshingResponse", U),
        "SmesherIDs": (EMPTY, "spacemesh.v1.SmesherIDsResponse", U),
        "Coinbase": (EMPTY, "spacemesh.v1.CoinbaseResponse", U),
        "PostSetupStatus": (EMPTY, "spacemesh.v1.PostSetupStatusResponse", U),
        "PostSetupStatusStream": (EMPTY, "spacemesh.v1.PostSetupStatusStreamResponse", SS),
        "PostConfig": (EMPTY, "spacemesh.v1.PostConfigResponse", U),
        "PostSetupProviders": ("spacemesh.v1.PostSetupProvidersRequest", "spacemesh.v1.PostSetupProvidersResponse", U),
    },
    "spacemesh.v1.ActivationService": {
        "Highest": (EMPTY, "spacemesh.v1.HighestResponse", U),
    },
    "spacemesh.v2alpha1.NetworkService": {
        "Info": ("spacemesh.v2alpha1.NetworkInfoRequest", "spacemesh.v2alpha1.NetworkInfoResponse", U),
    },
    "spacemesh.v2alpha1.NodeService": {
        "Status": ("spacemesh.v2alpha1.NodeStatusRequest", "spacemesh.v2alpha1.NodeStatusResponse", U),
    },
    "spacemesh.v2alpha1.AccountService": {
        "List": ("spacemesh.v2alpha1.AccountRequest", "spacemesh.v2alpha1.AccountList", U),
    },
    "spacemesh.v2alpha1.TransactionService": {
        "List": ("spacemesh.v2alpha1.TransactionRequest", "spacemesh.v2alpha1.TransactionList", U),
        "ParseTransaction": (
            "spacemesh.v2alpha1.ParseTransactionRequest", "spacemesh.v2alpha1.ParseTransactionResponse", U,
        ),
        "SubmitTransaction": (
            "spacemesh.v2alpha1.SubmitTransactionRequest", "spacemesh.v2alpha1.SubmitTransactionResponse", U,
        ),
        "EstimateGas": ("spacemesh.v2alpha1.EstimateGasRequest", "spacemesh.v2alpha1.EstimateGasResponse", U),
    },
    "spacemesh.v2alpha1.RewardService": {
        "List": ("spacemesh.v2alpha1.RewardRequest", "spacemesh.v2alpha1.RewardList", U),
    },
    "spacemesh.v2alpha1.LayerService": {
        "List": ("spacemesh.v2alpha1.LayerRequest", "spacemesh.v2alpha1.LayerList", U),
    },
    "spacemesh.v2alpha1.ActivationService": {
        "List": ("spacemesh.v2alpha1.ActivationRequest", "spacemesh.v2alpha1.ActivationList", U),
        "ActivationsCount": (
            "spacemesh.v2alpha1.ActivationsCountRequest", "spacemesh.v2alpha1.ActivationsCountResponse", U,
        ),
    },
    "spacemesh.v2alpha1.LayerStreamService": {
        "Stream": ("spacemesh.v2alpha1.LayerStreamRequest", "spacemesh.v2alpha1.Layer", SS),
    },
    "spacemesh.v2alpha1.TransactionStreamService": {
        "Stream": ("spacemesh.v2alpha1.TransactionStreamRequest", "spacemesh.v2alpha1.TransactionResponse", SS),
    },
    "spacemesh.v2alpha1.RewardStreamService": {
        "Stream": ("spacemesh.v2alpha1.RewardStreamRequest", "spacemesh.v2alpha1.Reward", SS),
    },
    "spacemesh.v2alpha1.ActivationStreamService": {
        "Stream": ("spacemesh.v2alpha1.ActivationStreamRequest", "spacemesh.v2alpha1.Activation", SS),
    },
}  # fmt: skip

# proto file (upstream name) that declares each service
SERVICE_FILES = {
    "spacemesh.v1.NodeService": v1_node, "spacemesh.v1.MeshService": v1_mesh,
    "spacemesh.v1.GlobalStateService": v1_global_state, "spacemesh.v1.TransactionService": v1_tx,
    "spacemesh.v1.SmesherService": v1_smesher, "spacemesh.v1.ActivationService": v1_activation,
    "spacemesh.v2alpha1.NetworkService": network_pb2, "spacemesh.v2alpha1.NodeService": node_pb2,
    "spacemesh.v2alpha1.AccountService": account_pb2, "spacemesh.v2alpha1.TransactionService": tx_pb2,
    "spacemesh.v2alpha1.RewardService": reward_pb2, "spacemesh.v2alpha1.LayerService": layer_pb2,
    "spacemesh.v2alpha1.ActivationService": activation_pb2, "spacemesh.v2alpha1.LayerStreamService": layer_pb2,
    "spacemesh.v2alpha1.TransactionStreamService": tx_pb2, "spacemesh.v2alpha1.RewardStreamService": reward_pb2,
    "spacemesh.v2alpha1.ActivationStreamService": activation_pb2,
}  # fmt: skip


def test_checked_in_code_is_current():
    assert generate.stale_files() == []


def test_descriptor_file_names_are_the_upstream_ones():
    # reflection clients (grpcurl) see these names; imports were rewritten, the file names were not
    assert v1_node.DESCRIPTOR.name == "spacemesh/v1/node.proto"
    assert tx_pb2.DESCRIPTOR.name == "spacemesh/v2alpha1/tx.proto"
    assert status_pb2.DESCRIPTOR.name == "google/rpc/status.proto"
    assert v1_tx.DESCRIPTOR.package == "spacemesh.v1" and tx_pb2.DESCRIPTOR.package == "spacemesh.v2alpha1"


def _kind(method) -> str:
    assert not method.client_streaming, method.full_name  # no served method takes a client stream
    return SS if method.server_streaming else U


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_services_methods_and_streaming_kinds(service):
    module = SERVICE_FILES[service]
    desc = module.DESCRIPTOR.services_by_name[service.rsplit(".", 1)[1]]
    assert desc.full_name == service
    got = {m.name: (m.input_type.full_name, m.output_type.full_name, _kind(m)) for m in desc.methods}
    assert got == SERVICES[service]
    # the generated gRPC module has the stub and servicer under the upstream names
    grpc_module = importlib.import_module(module.__name__ + "_grpc")
    short = service.rsplit(".", 1)[1]
    assert hasattr(grpc_module, f"{short}Stub") and hasattr(grpc_module, f"add_{short}Servicer_to_server")


def _numbers(message) -> dict[str, int]:
    return {f.name: f.number for f in message.DESCRIPTOR.fields}


def _enum(enum_type) -> dict[str, int]:
    return {v.name: v.number for v in enum_type.DESCRIPTOR.values}


def _reserved(message) -> set[int]:
    proto = descriptor_pb2.DescriptorProto()
    message.DESCRIPTOR.CopyToProto(proto)
    return {n for r in proto.reserved_range for n in range(r.start, r.end)}


def test_v1_field_numbers():
    # spacemeshos/api spacemesh/v1/types.proto
    assert _numbers(v1_types.Transaction) == {
        "id": 1, "principal": 2, "template": 3, "method": 4, "nonce": 5, "limits": 6, "max_gas": 7,
        "gas_price": 8, "max_spend": 9, "raw": 10,
    }  # fmt: skip
    assert _numbers(v1_types.Nonce) == {"counter": 1, "bitfield": 2}
    assert _numbers(v1_types.AccountId) == {"address": 1}
    assert _numbers(v1_types.Amount) == {"value": 1}
    assert _numbers(v1_types.LayerNumber) == {"number": 1}
    assert _numbers(v1_types.Activation) == {
        "id": 1, "layer": 2, "smesher_id": 3, "coinbase": 4, "prev_atx": 5, "num_units": 6, "sequence": 7,
    }  # fmt: skip
    assert _numbers(v1_types.Reward) == {
        "layer": 1, "total": 2, "layer_reward": 3, "layer_computed": 4, "coinbase": 5, "smesher": 6,
    }  # fmt: skip
    assert _numbers(v1_types.Layer) == {
        "number": 1, "status": 2, "hash": 3, "blocks": 4, "activations": 5, "root_state_hash": 6,
    }  # fmt: skip
    assert _enum(v1_types.Layer.LayerStatus) == {
        "LAYER_STATUS_UNSPECIFIED": 0, "LAYER_STATUS_APPROVED": 1, "LAYER_STATUS_CONFIRMED": 2,
        "LAYER_STATUS_APPLIED": 3,
    }  # fmt: skip
    # spacemesh/v1/global_state_types.proto
    assert _numbers(v1_global_state.AccountState) == {"counter": 1, "balance": 2}
    assert _numbers(v1_global_state.Account) == {"account_id": 1, "state_current": 2, "state_projected": 3}
    assert _numbers(v1_global_state.AccountResponse) == {"account_wrapper": 1}
    assert _numbers(v1_global_state.AccountDataFilter) == {"account_id": 1, "account_data_flags": 2}
    assert _numbers(v1_global_state.AccountDataQueryRequest) == {"filter": 1, "max_results": 2, "offset": 3}
    assert _numbers(v1_global_state.AccountDataQueryResponse) == {"total_results": 1, "account_item": 2}
    assert _numbers(v1_global_state.AccountData) == {"reward": 1, "receipt": 2, "account_wrapper": 3}
    assert _enum(v1_global_state.AccountDataFlag) == {
        "ACCOUNT_DATA_FLAG_UNSPECIFIED": 0, "ACCOUNT_DATA_FLAG_TRANSACTION_RECEIPT": 1,
        "ACCOUNT_DATA_FLAG_REWARD": 2, "ACCOUNT_DATA_FLAG_ACCOUNT": 4,
    }  # fmt: skip
    # spacemesh/v1/node_types.proto; NodeInfoResponse confirmed in release/go/spacemesh/v1/node_types.pb.go
    # (commit 036b8e5b): hrp 1 string, first_genesis 2, effective_genesis 3, epoch_size 4 (uint32)
    assert _numbers(v1_node.NodeStatus) == {
        "connected_peers": 1, "is_synced": 2, "synced_layer": 3, "top_layer": 4, "verified_layer": 5,
    }  # fmt: skip
    assert _numbers(v1_node.NodeInfoResponse) == {"hrp": 1, "first_genesis": 2, "effective_genesis": 3, "epoch_size": 4}
    assert _numbers(v1_node.VersionResponse) == {"version_string": 1}
    # spacemesh/v1/mesh_types.proto
    assert _numbers(v1_mesh.GenesisIDResponse) == {"genesis_id": 1}
    assert _numbers(v1_mesh.GenesisTimeResponse) == {"unixtime": 1}
    assert _numbers(v1_mesh.CurrentLayerResponse) == {"layernum": 1}
    assert _numbers(v1_mesh.CurrentEpochResponse) == {"epochnum": 1}
    assert _numbers(v1_mesh.LayersQueryRequest) == {"start_layer": 1, "end_layer": 2}
    # spacemesh/v1/tx_types.proto
    assert _numbers(v1_tx.SubmitTransactionRequest) == {"transaction": 1}
    assert _numbers(v1_tx.SubmitTransactionResponse) == {"status": 1, "txstate": 2}
    assert _numbers(v1_tx.TransactionState) == {"id": 1, "state": 2}
    assert _numbers(v1_tx.TransactionResultsRequest) == {"id": 1, "address": 2, "start": 3, "end": 4, "watch": 5}
    assert _numbers(v1_tx.TransactionResult) == {
        "tx": 1, "status": 2, "message": 3, "gas_consumed": 4, "fee": 5, "block": 6, "layer": 7,
        "touched_addresses": 8,
    }  # fmt: skip
    assert _enum(v1_tx.TransactionResult.Status) == {"SUCCESS": 0, "FAILURE": 1, "INVALID": 2}
    # INEFFECTUAL 7 confirmed in release/go/spacemesh/v1/tx_types.pb.go (commit 963a6eb2; older snapshots stop at 6)
    assert _enum(v1_tx.TransactionState.TransactionState) == {
        "TRANSACTION_STATE_UNSPECIFIED": 0, "TRANSACTION_STATE_REJECTED": 1,
        "TRANSACTION_STATE_INSUFFICIENT_FUNDS": 2, "TRANSACTION_STATE_CONFLICTING": 3,
        "TRANSACTION_STATE_MEMPOOL": 4, "TRANSACTION_STATE_MESH": 5, "TRANSACTION_STATE_PROCESSED": 6,
        "TRANSACTION_STATE_INEFFECTUAL": 7,
    }  # fmt: skip
    # spacemesh/v1/smesher_types.proto
    assert _numbers(v1_smesher.PostSetupStatus) == {"state": 1, "num_labels_written": 2, "opts": 3}
    assert _enum(v1_smesher.PostSetupStatus.State) == {
        "STATE_UNSPECIFIED": 0, "STATE_NOT_STARTED": 1, "STATE_PREPARED": 2, "STATE_IN_PROGRESS": 3,
        "STATE_PAUSED": 4, "STATE_COMPLETE": 5, "STATE_ERROR": 6,
    }  # fmt: skip
    assert _numbers(v1_smesher.PostSetupOpts) == {
        "data_dir": 1, "num_units": 2, "max_file_size": 3, "provider_id": 4, "throttle": 5,
    }  # fmt: skip
    assert _numbers(v1_smesher.PostConfigResponse) == {
        "bits_per_label": 1, "labels_per_unit": 2, "min_num_units": 3, "max_num_units": 4, "k1": 5, "k2": 6,
    }  # fmt: skip
    assert _numbers(v1_smesher.PostSetupProvider) == {"id": 1, "model": 2, "device_type": 3, "performance": 4}
    assert _enum(v1_smesher.PostSetupProvider.DeviceType) == {"DEVICE_CLASS_CPU": 0, "DEVICE_CLASS_GPU": 1}
    assert _numbers(v1_smesher.CoinbaseResponse) == {"account_id": 1}
    # SmesherIDsResponse: name and repeated-bytes type as go-spacemesh fills it (res.PublicKeys, [][]byte); the
    # number of this single field is in no stored smesher_types snapshot (they predate the message): unconfirmed
    assert _numbers(v1_smesher.SmesherIDsResponse) == {"public_keys": 1}
    # spacemesh/v1/activation_types.proto; HighestResponse per release/go/spacemesh/v1/activation_types.pb.go (3f1778a7)
    assert _numbers(v1_activation.HighestResponse) == {"atx": 1}
    # googleapis google/rpc/status.proto
    assert _numbers(status_pb2.Status) == {"code": 1, "message": 2, "details": 3}


def test_v2alpha1_field_numbers():
    # spacemeshos/api spacemesh/v2alpha1/tx.proto (commit 025cd1ea); TransactionState INEFFECTUAL 7 and
    # TransactionList without `total` as in the HEAD-era copy spacemesh/v2beta1/tx.proto (commit 88f2b962)
    assert _enum(tx_pb2.TransactionResult.Status) == {
        "TRANSACTION_STATUS_UNSPECIFIED": 0, "TRANSACTION_STATUS_SUCCESS": 1, "TRANSACTION_STATUS_FAILURE": 2,
        "TRANSACTION_STATUS_INVALID": 3,
    }  # fmt: skip
    assert _numbers(tx_pb2.TransactionResult) == {
        "status": 1, "message": 2, "gas_consumed": 3, "fee": 4, "block": 5, "layer": 6, "touched_addresses": 7,
    }  # fmt: skip
    assert _numbers(tx_pb2.Transaction) == {
        "id": 1, "principal": 2, "template": 3, "method": 4, "nonce": 5, "max_gas": 6, "gas_price": 7,
        "max_spend": 8, "raw": 9, "type": 10, "contents": 11,
    }  # fmt: skip
    assert _numbers(tx_pb2.TransactionContents) == {"send": 1, "single_sig_spawn": 2, "multi_sig_spawn": 3}
    assert _numbers(tx_pb2.ContentsSend) == {"destination": 1, "amount": 2}
    # INEFFECTUAL: go-spacemesh v2alpha1 transaction service reports evicted txs with it
    assert _enum(tx_pb2.TransactionState) == {
        "TRANSACTION_STATE_UNSPECIFIED": 0, "TRANSACTION_STATE_REJECTED": 1,
        "TRANSACTION_STATE_INSUFFICIENT_FUNDS": 2, "TRANSACTION_STATE_CONFLICTING": 3,
        "TRANSACTION_STATE_MEMPOOL": 4, "TRANSACTION_STATE_MESH": 5, "TRANSACTION_STATE_PROCESSED": 6,
        "TRANSACTION_STATE_INEFFECTUAL": 7,
    }  # fmt: skip
    assert _numbers(tx_pb2.TransactionRequest) == {
        "start_layer": 1, "end_layer": 2, "txid": 3, "address": 4, "offset": 6, "limit": 7,
        "include_state": 8, "include_result": 9, "sort_order": 10,
    }  # fmt: skip
    assert _numbers(tx_pb2.TransactionResponse) == {"tx": 1, "tx_result": 2, "tx_state": 3}
    assert _numbers(tx_pb2.TransactionList) == {"transactions": 1}
    assert _numbers(tx_pb2.TransactionStreamRequest) == {
        "start_layer": 1, "end_layer": 2, "txid": 3, "principal": 4, "watch": 5,
    }  # fmt: skip
    assert _numbers(tx_pb2.ParseTransactionRequest) == {"transaction": 1, "verify": 2}
    assert _numbers(tx_pb2.ParseTransactionResponse) == {"status": 1, "tx": 2}
    assert _numbers(tx_pb2.SubmitTransactionResponse) == {"status": 1, "tx_id": 2}
    assert _numbers(tx_pb2.EstimateGasResponse) == {"status": 1, "recommended_max_gas": 2}
    # release/go/spacemesh/v2alpha1/node.pb.go
    assert _numbers(node_pb2.NodeStatusResponse) == {
        "connected_peers": 1, "status": 2, "latest_layer": 3, "applied_layer": 4, "processed_layer": 5,
        "current_layer": 6,
    }  # fmt: skip
    assert _enum(node_pb2.NodeStatusResponse.SyncStatus) == {
        "SYNC_STATUS_UNSPECIFIED": 0, "SYNC_STATUS_OFFLINE": 1, "SYNC_STATUS_SYNCING": 2, "SYNC_STATUS_SYNCED": 3,
    }  # fmt: skip
    # release/go/spacemesh/v2alpha1/network.pb.go (commit 805253b1): labels_per_unit 8 (uint64); no reserved range
    assert _numbers(network_pb2.NetworkInfoResponse) == {
        "genesis_time": 1, "layer_duration": 3, "genesis_id": 4, "hrp": 5, "effective_genesis_layer": 6,
        "layers_per_epoch": 7, "labels_per_unit": 8,
    }  # fmt: skip
    assert _reserved(network_pb2.NetworkInfoResponse) == set()
    nfields = network_pb2.NetworkInfoResponse.DESCRIPTOR.fields_by_name
    assert nfields["genesis_time"].message_type.full_name == "google.protobuf.Timestamp"
    assert nfields["layer_duration"].message_type.full_name == "google.protobuf.Duration"
    # release/go/spacemesh/v2alpha1/account.pb.go (commits f410f134 and 963a6eb2): offset 2, limit 3 (5/6 was an
    # older layout)
    assert _numbers(account_pb2.AccountRequest) == {"addresses": 1, "offset": 2, "limit": 3}
    assert _numbers(account_pb2.AccountState) == {"counter": 1, "balance": 2, "layer": 3}
    assert _numbers(account_pb2.Account) == {"address": 1, "current": 2, "projected": 3, "template": 4}
    assert _numbers(account_pb2.AccountList) == {"accounts": 1}
    # release/go/spacemesh/v2alpha1/reward.pb.go (commit 963a6eb2): 4 is unused and not reserved
    assert _numbers(reward_pb2.Reward) == {"layer": 1, "total": 2, "layer_reward": 3, "coinbase": 5, "smesher": 6}
    assert _reserved(reward_pb2.Reward) == set()
    assert _numbers(reward_pb2.RewardList) == {"rewards": 1}
    assert _numbers(reward_pb2.RewardRequest) == {
        "start_layer": 1, "end_layer": 2, "coinbase": 3, "smesher": 4, "offset": 5, "limit": 6, "sort_order": 7,
    }  # fmt: skip
    assert _numbers(reward_pb2.RewardStreamRequest) == {
        "start_layer": 1, "end_layer": 2, "coinbase": 3, "smesher": 4, "watch": 5,
    }  # fmt: skip
    # release/go/spacemesh/v2alpha1/layer.pb.go (commit 963a6eb2), block.pb.go (commit 036b8e5b)
    assert _numbers(layer_pb2.Layer) == {
        "number": 1, "status": 2, "consensus_hash": 3, "state_hash": 4, "cumulative_state_hash": 5, "block": 6,
    }  # fmt: skip
    assert _enum(layer_pb2.Layer.LayerStatus) == {
        "LAYER_STATUS_UNSPECIFIED": 0, "LAYER_STATUS_APPLIED": 1, "LAYER_STATUS_VERIFIED": 2,
    }  # fmt: skip
    assert _numbers(layer_pb2.LayerRequest) == {
        "start_layer": 1, "end_layer": 2, "offset": 3, "limit": 4, "sort_order": 5,
    }  # fmt: skip
    assert _numbers(layer_pb2.LayerStreamRequest) == {"start_layer": 1, "end_layer": 2, "watch": 3}
    assert _numbers(layer_pb2.LayerList) == {"layers": 1}
    assert _numbers(block_pb2.Block) == {"id": 1}
    assert _enum(v2alpha1_pb2.SortOrder) == {"ASC": 0, "DESC": 1}
    # release/go/spacemesh/v2alpha1/activation.pb.go (commit 963a6eb2): no signature/previous_atx, no list total
    assert _numbers(activation_pb2.Activation) == {
        "id": 1, "smesher_id": 2, "publish_epoch": 3, "coinbase": 4, "weight": 5, "height": 6, "num_units": 7,
    }  # fmt: skip
    assert _numbers(activation_pb2.ActivationList) == {"activations": 1}
    assert _numbers(activation_pb2.ActivationStreamRequest) == {
        "start_epoch": 1, "end_epoch": 2, "id": 3, "smesher_id": 4, "coinbase": 5, "watch": 6,
    }  # fmt: skip
    assert _numbers(activation_pb2.ActivationRequest) == {
        "start_epoch": 1, "end_epoch": 2, "id": 3, "smesher_id": 4, "coinbase": 5, "offset": 6, "limit": 7,
    }  # fmt: skip
    assert _numbers(activation_pb2.ActivationsCountRequest) == {"epoch": 1}
    assert activation_pb2.ActivationsCountRequest.DESCRIPTOR.fields_by_name["epoch"].has_presence
    assert _numbers(activation_pb2.ActivationsCountResponse) == {"count": 1}


def test_protojson_matches_the_gateway_examples():
    # spec/api-ecosystem.md §1.2: lowerCamelCase names, uint64 as strings, enums by name
    msg = node_pb2.NodeStatusResponse(
        connected_peers=111, status=node_pb2.NodeStatusResponse.SYNC_STATUS_SYNCING, latest_layer=50373
    )
    assert json_format.MessageToDict(msg) == {
        "connectedPeers": "111", "status": "SYNC_STATUS_SYNCING", "latestLayer": 50373,
    }  # fmt: skip
    acct = v1_global_state.AccountResponse(
        account_wrapper=v1_global_state.Account(
            account_id=v1_types.AccountId(address="sm1qq"),
            state_projected=v1_global_state.AccountState(counter=2, balance=v1_types.Amount(value=10**17)),
        )
    )
    assert json_format.MessageToDict(acct) == {
        "accountWrapper": {"accountId": {"address": "sm1qq"},
                           "stateProjected": {"counter": "2", "balance": {"value": "100000000000000000"}}},
    }  # fmt: skip


def test_gateway_routes_cover_every_served_method():
    routes = gateway_routes.routes()
    canonical = {r.path for r in routes if r.path.startswith("/spacemesh.")}
    expected = {f"/{service}/{method}" for service, methods in SERVICES.items() for method in methods}
    assert canonical == expected
    assert all(r.http_method == "POST" for r in routes)
    assert all(r.grpc_path == f"/{r.service}/{r.method}" for r in routes)
    by_path = {r.path: r for r in routes}
    # the v1 annotated paths of spec/api-ecosystem.md §1.2 for the served methods
    assert {p for p in by_path if p.startswith("/v1/")} == {
        "/v1/node/echo", "/v1/node/version", "/v1/node/status",
        "/v1/mesh/genesistime", "/v1/mesh/currentlayer", "/v1/mesh/currentepoch", "/v1/mesh/genesisid",
        "/v1/mesh/epochnumlayers", "/v1/mesh/layerduration", "/v1/mesh/layersquery",
        "/v1/globalstate/account", "/v1/globalstate/accountdataquery",
        "/v1/transaction/submittransaction", "/v1/transaction/parsetransaction", "/v1/transaction/transactionsstate",
        "/v1/smesher/issmeshing", "/v1/smesher/smesherids", "/v1/smesher/coinbase", "/v1/smesher/postsetupstatus",
        "/v1/smesher/postsetupproviders", "/v1/smesher/postconfig",
    }  # fmt: skip
    assert by_path["/v1/globalstate/account"].grpc_path == "/spacemesh.v1.GlobalStateService/Account"
    # the JSON gateway mounts only the public services
    mounted = gateway_routes.gateway_routes()
    assert "/spacemesh.v2alpha1.NodeService/Status" in mounted
    assert "/v1/smesher/postconfig" not in mounted
    assert "/spacemesh.v2alpha1.LayerStreamService/Stream" not in mounted
    assert not any(r.service == "spacemesh.v1.SmesherService" or "Stream" in r.service for r in mounted.values())


def test_generated_stub_and_servicer_talk_over_grpc():
    class Node(node_pb2_grpc.NodeServiceServicer):
        def Status(self, request, context):
            return node_pb2.NodeStatusResponse(connected_peers=3, status=node_pb2.NodeStatusResponse.SYNC_STATUS_SYNCED)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    node_pb2_grpc.add_NodeServiceServicer_to_server(Node(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = node_pb2_grpc.NodeServiceStub(channel).Status(node_pb2.NodeStatusRequest(), timeout=10)
            assert (reply.connected_peers, reply.status) == (3, node_pb2.NodeStatusResponse.SYNC_STATUS_SYNCED)
            # the wire path is the upstream one, so a real client reaches the same method
            raw = channel.unary_unary("/spacemesh.v2alpha1.NodeService/Status")(b"", timeout=10)
            assert node_pb2.NodeStatusResponse.FromString(raw).connected_peers == 3
    finally:
        server.stop(None)


def test_empty_is_the_well_known_type():
    method = v1_node.DESCRIPTOR.services_by_name["NodeService"].methods_by_name["Version"]
    assert method.input_type is empty_pb2.Empty.DESCRIPTOR
