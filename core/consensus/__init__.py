"""Consensus: eligibility, beacon, hare, tortoise and block building, as pure functions over data."""
