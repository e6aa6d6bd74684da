"""The PoET (spec/poet.md): the proof of sequential work and the service around it.

Proof of sequential work: `merkle` (the incremental Merkle tree, generic over its node hash),
`posw` (labels, Fiat–Shamir, the proof types and the verifier), `prover` (the resumable,
long-running prover) and `native` (its compiled hot loop, `_sha_chain.c`).
Service: `rounds`, `membership`, `pow`, `certifier`, `store`, `service`, the gRPC/REST front
ends, and `client`, what a node uses to talk to a PoET.
"""
