"""The networks a wallet or transaction can target: HRP and genesis identity.

Genesis values are spec/wallet.md §3.3; the standalone network has no fixed genesis time, so its
genesis id must be computed from `--genesis-time` or given directly.
"""

from __future__ import annotations

import dataclasses

from core.crypto.hashing import genesis_id as compute_genesis_id
from core.errors import InvalidInput


@dataclasses.dataclass(frozen=True)
class Network:
    name: str
    hrp: str
    genesis_extra_data: str
    genesis_time: int | None = None  # Unix seconds; None where each devnet picks its own

    def genesis_id(self, genesis_time: int | None = None) -> bytes:
        when = self.genesis_time if genesis_time is None else genesis_time
        if when is None:
            raise InvalidInput(f"the {self.name} network has no fixed genesis time: give --genesis-time or --genesis-id")
        return compute_genesis_id(when, self.genesis_extra_data)


MAINNET = Network("mainnet", "sm", "00000000000000000001a6bc150307b5c1998045752b3c87eccf3c013036f3cc", 1689321600)
TESTNET = Network("testnet", "stest", "0000000000000000000000c76c58ebac180989673fd6d237b40e66ed5c976ec3", 1694628000)
STANDALONE = Network("standalone", "standalone", "standalone")

NETWORKS = {n.name: n for n in (MAINNET, TESTNET, STANDALONE)}
HRPS = frozenset(n.hrp for n in NETWORKS.values())


def network(name: str) -> Network:
    try:
        return NETWORKS[name]
    except KeyError:
        raise InvalidInput(f"unknown network {name!r}; choose one of {', '.join(NETWORKS)}") from None
