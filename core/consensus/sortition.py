"""Binomial committee sortition for hare and certificates (spec/node.md §5.2, §5.4).

An identity with ATX weight w in an epoch of total weight W is treated as w coins, each
landing in a committee of expected size C with probability p = C / W.  Its VRF output picks a
uniform point x = LE64(vrf[0:8]) / 2^64 in [0, 1) and its *eligibility count* is the number of
coins that landed, read off the binomial quantile function:

    count = smallest c with BinCDF(n = w, p, c) > x.

When C > W there are too few coins for the committee, so both are scaled by C (n = w·C,
p = C / (W·C) = 1/W) as go-spacemesh's oracle does.

Every node must compute the same count for the same proof, or votes stop adding up across
nodes, so the quantile is computed with *rigorous* bounds rather than floats: each CDF value
is bracketed by a lower and an upper bound (big-integer mantissas, every operation rounded
outward), and a comparison with x is only trusted when the whole bracket lies on one side.
A decided comparison is the mathematically exact answer, hence the same everywhere.  If a
bracket straddles x the precision is raised; for small n an exact rational computation
settles ties (CDF = x exactly, e.g. n = 1, p = 1/2, x = 1/2), and for huge n, where such a
tie would need astronomically special inputs, the last, very precise pass counts an unsettled
comparison as "not greater" - still a deterministic rule, so nodes still agree.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated

from core.codec import Compact, FixedBytes, Struct

__all__ = [
    "VRF_FRACTION_BITS",
    "HareVrfMessage",
    "binomial_quantile",
    "eligibility_count",
    "hare_vrf_message",
    "vrf_fraction",
]

VRF_FRACTION_BITS = 64
"""x is read from the first 8 bytes of the VRF proof (little-endian), so its denominator is 2^64."""

_HARE_ELIGIBILITY_TYPE = 2  # core.consensus.eligibility.EligibilityType.HARE (spec §0)
_GUARD_BITS = 128  # working precision beyond log2(n): the power (1-p)^n loses about log2(n) bits
_REFINEMENTS = 3  # precision is multiplied by 4 this many times before ties are settled
_EXACT_LIMIT_BITS = 1 << 16  # do exact rational arithmetic only while numbers stay this small


class HareVrfMessage(Struct):
    """What an identity's VRF is evaluated on for one hare round (spec §5.2)."""

    type: Annotated[int, Compact(16)]
    beacon: Annotated[bytes, FixedBytes(4)]
    round: Annotated[int, Compact(32)]
    layer: Annotated[int, Compact(32)]


def hare_vrf_message(beacon: bytes, abs_round: int, layer: int) -> bytes:
    """scale{Type=Hare, Beacon, Round=absolute round, Layer}: the VRF input of a hare round."""
    return HareVrfMessage(_HARE_ELIGIBILITY_TYPE, beacon, abs_round, layer).encode()


def vrf_fraction(proof: bytes) -> Fraction:
    """x = LE u64 of proof[0:8] / 2^64, the uniform point the VRF picks in [0, 1)."""
    if len(proof) < 8:
        raise ValueError("a VRF proof has at least 8 bytes")
    return Fraction(int.from_bytes(proof[:8], "little"), 1 << VRF_FRACTION_BITS)


def eligibility_count(proof: bytes, weight: int, total_weight: int, committee: int) -> int:
    """How many committee seats `proof` grants an identity of `weight` (0: not eligible).

    The proof must already be verified; this only reads its first 8 bytes.
    """
    if weight < 0 or total_weight < 0 or committee < 0:
        raise ValueError("weights and committee size must not be negative")
    if weight > total_weight:
        raise ValueError(f"identity weight {weight} exceeds the total weight {total_weight}")
    if weight == 0 or committee == 0:
        return 0
    n = weight
    if committee > total_weight:  # too few coins: scale both sides by the committee size
        n *= committee
        total_weight *= committee
    return binomial_quantile(n, Fraction(committee, total_weight), vrf_fraction(proof))


def binomial_quantile(n: int, p: Fraction, x: Fraction) -> int:
    """The smallest c in [0, n] with BinCDF(n, p, c) > x, for 0 <= p <= 1 and 0 <= x < 1."""
    if n < 0 or not 0 <= p <= 1 or not 0 <= x < 1:
        raise ValueError("need n >= 0, 0 <= p <= 1 and 0 <= x < 1")
    if n == 0 or p == 0:
        return 0  # all mass at 0 and CDF(0) = 1 > x
    if p == 1:
        return n  # all mass at n
    bits = n.bit_length() + _GUARD_BITS
    for _ in range(_REFINEMENTS):
        count = _quantile_bounded(n, p, x, bits, ties_low=False)
        if count is not None:
            return count
        bits *= 4
    if n * max(p.denominator.bit_length(), 1) <= _EXACT_LIMIT_BITS:
        return _quantile_exact(n, p, x)
    count = _quantile_bounded(n, p, x, bits, ties_low=True)
    assert count is not None
    return count


# --- rigorous bounds ---------------------------------------------------------------------------
# A bound is (m, e) meaning m·2^e with m a non-negative int of about `bits` bits; every
# operation rounds toward 0 for a lower bound and toward +inf for an upper bound, so the true
# value always lies between the two.

Bound = tuple[int, int]


def _scaled(num: int, den: int, exp: int, bits: int, up: bool) -> Bound:
    """num/den · 2^exp rounded outward to about `bits` significant bits."""
    if num == 0:
        return 0, 0
    shift = bits - num.bit_length() + den.bit_length()
    if shift >= 0:
        m, r = divmod(num << shift, den)
    else:
        m, r = divmod(num, den << -shift)
    return m + (1 if up and r else 0), exp - shift


def _mul(a: Bound, b: Bound, bits: int, up: bool) -> Bound:
    return _scaled(a[0] * b[0], 1, a[1] + b[1], bits, up)


def _mul_ratio(a: Bound, num: int, den: int, bits: int, up: bool) -> Bound:
    return _scaled(a[0] * num, den, a[1], bits, up)


def _add(a: Bound, b: Bound, bits: int, up: bool) -> Bound:
    if a[0] == 0:
        return b
    if b[0] == 0:
        return a
    if a[1] < b[1]:
        a, b = b, a
    gap = a[1] - b[1]
    if gap > 2 * bits:  # b < one unit of a's last place: drop it (lower) or add that unit (upper)
        return a[0] + (1 if up else 0), a[1]
    return _scaled((a[0] << gap) + b[0], 1, b[1], bits, up)


def _pow(base_num: int, base_den: int, n: int, bits: int, up: bool) -> Bound:
    """(base_num/base_den)^n by squaring; the base is positive so every rounding stays outward."""
    result: Bound = (1, 0)
    base = _scaled(base_num, base_den, 0, bits, up)
    while n:
        if n & 1:
            result = _mul(result, base, bits, up)
        n >>= 1
        if n:
            base = _mul(base, base, bits, up)
    return result


def _exceeds(a: Bound, x: Fraction) -> bool:
    """m·2^e > x, deciding by magnitude first so tiny values need no huge shifts."""
    m, e = a
    if m == 0:
        return False
    if x == 0:
        return True
    top = m.bit_length() + e  # a lies in [2^(top-1), 2^top)
    x_top = x.numerator.bit_length() - x.denominator.bit_length()  # x lies in (2^(x_top-1), 2^(x_top+1))
    if top <= x_top - 1:
        return False
    if top - 1 >= x_top + 1:
        return True
    left, right = m * x.denominator, x.numerator
    return (left << e) > right if e >= 0 else left > (right << -e)


def _quantile_bounded(n: int, p: Fraction, x: Fraction, bits: int, ties_low: bool) -> int | None:
    """Walk the CDF with bounds; None if some comparison could not be decided at `bits`.

    With `ties_low` an undecided comparison counts as "CDF not above x" (the final pass).
    pmf(0) = (1-p)^n and pmf(c) = pmf(c-1) · (n-c+1)/c · p/(1-p).
    """
    p_num, q_num, den = p.numerator, p.denominator - p.numerator, p.denominator
    pmf_lo, pmf_hi = _pow(q_num, den, n, bits, False), _pow(q_num, den, n, bits, True)
    cdf_lo, cdf_hi = pmf_lo, pmf_hi
    for c in range(n):
        if c:
            ratio_num, ratio_den = (n - c + 1) * p_num, c * q_num
            pmf_lo = _mul_ratio(pmf_lo, ratio_num, ratio_den, bits, False)
            pmf_hi = _mul_ratio(pmf_hi, ratio_num, ratio_den, bits, True)
            cdf_lo = _add(cdf_lo, pmf_lo, bits, False)
            cdf_hi = _add(cdf_hi, pmf_hi, bits, True)
        if _exceeds(cdf_lo, x):
            return c
        if _exceeds(cdf_hi, x) and not ties_low:
            return None
    return n  # CDF(n) = 1 > x


def _quantile_exact(n: int, p: Fraction, x: Fraction) -> int:
    """The same walk in exact rationals: only affordable for small n, used to settle ties."""
    pmf = (1 - p) ** n
    cdf = pmf
    for c in range(n):
        if c:
            pmf = pmf * (n - c + 1) * p / (c * (1 - p))
            cdf += pmf
        if cdf > x:
            return c
    return n
