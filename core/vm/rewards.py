"""Block subsidy and its split among smeshers (spec/node.md §7.3).

Issuance follows S(n) = TotalSubsidy · (1 − e^(−λ(n+1))) for n layers after effective genesis,
computed like spacemeshos/economics in 34-digit decimal arithmetic and truncated to smidge; a
layer's subsidy is S(n) − S(n−1).  Subsidy plus fees are split by exact rational weights,
each share floored; the dust is burnt.
"""

from __future__ import annotations

import dataclasses
from decimal import ROUND_FLOOR, Context, Decimal
from fractions import Fraction
from functools import lru_cache

ONE_SMH = 10**9
TOTAL_ISSUANCE = 2_400_000_000 * ONE_SMH
TOTAL_VAULTED = 150_000_000 * ONE_SMH
TOTAL_SUBSIDY = TOTAL_ISSUANCE - TOTAL_VAULTED
TEN_YEAR_SUBSIDY = 450_000_000 * ONE_SMH  # subsidy issued in the first ten years
LAYERS_PER_YEAR = 105_120

_CTX = Context(prec=34)  # IEEE 754 decimal128, as the economics library's Context128
# λ = −ln(1 − 450M/2250M) / (10 years of layers + 1)
_LAMBDA = _CTX.divide(
    _CTX.minus(_CTX.ln(_CTX.subtract(Decimal(1), _CTX.divide(Decimal(TEN_YEAR_SUBSIDY), Decimal(TOTAL_SUBSIDY))))),
    Decimal(10 * LAYERS_PER_YEAR + 1),
)


@lru_cache(maxsize=4096)
def accumulated_subsidy(layers_after_genesis: int) -> int:
    """Total subsidy issued up to and including layer n after effective genesis (S(n))."""
    if layers_after_genesis < 0:
        return 0
    exponent = _CTX.multiply(_CTX.minus(_LAMBDA), Decimal(layers_after_genesis + 1))
    value = _CTX.multiply(Decimal(TOTAL_SUBSIDY), _CTX.subtract(Decimal(1), _CTX.exp(exponent)))
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def layer_subsidy(layer: int, effective_genesis: int) -> int:
    """Subsidy of one layer; zero at or before effective genesis."""
    n = layer - effective_genesis - 1
    if n < 0:
        return 0
    return accumulated_subsidy(n) - accumulated_subsidy(n - 1)


@dataclasses.dataclass(frozen=True)
class RewardShare:
    """One proposal eligibility's claim on a block's reward."""

    coinbase: bytes
    atx_id: bytes
    weight: Fraction


@dataclasses.dataclass(frozen=True)
class Reward:
    coinbase: bytes
    atx_id: bytes
    total: int  # subsidy share + fee share, smidge
    layer_reward: int  # the subsidy share alone


def split_rewards(shares: list[RewardShare], subsidy: int, fees: int) -> list[Reward]:
    """Each share gets floor(total · w / Σw) of subsidy+fees and floor(subsidy · w / Σw) as layer reward."""
    weight_sum = sum((s.weight for s in shares), Fraction(0))
    if not shares or weight_sum <= 0:
        return []
    total = subsidy + fees
    return [
        Reward(
            s.coinbase,
            s.atx_id,
            int(total * s.weight / weight_sum),
            int(subsidy * s.weight / weight_sum),
        )
        for s in shares
    ]
