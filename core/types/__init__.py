"""Consensus wire types: ATXs, ballots, proposals, blocks (SCALE, as go-spacemesh lays them out)."""
