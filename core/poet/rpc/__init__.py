"""The PoET gRPC API: poet.proto (package `rpc.api.v1`) and its generated Python modules."""
