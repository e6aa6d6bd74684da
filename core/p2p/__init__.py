"""Peer-to-peer networking: authenticated links bound to one network, gossip, request/response (spec/node.md §9)."""
