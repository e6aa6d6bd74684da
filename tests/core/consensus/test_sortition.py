"""Binomial sortition (spec/node.md §5.2) against independent computations."""

import math
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.consensus.sortition import binomial_quantile, eligibility_count, hare_vrf_message, vrf_fraction
from core.crypto import ecvrf

TWO64 = 1 << 64


# --- independent references ------------------------------------------------------------------


def exact_cdfs(n: int, p: Fraction) -> list[Fraction]:
    """BinCDF(n, p, c) for every c, summing binomial terms directly with exact rationals."""
    total, out = Fraction(0), []
    for c in range(n + 1):
        total += math.comb(n, c) * p**c * (1 - p) ** (n - c)
        out.append(total)
    return out


def exact_quantile(n: int, p: Fraction, x: Fraction) -> int:
    return next(c for c, cdf in enumerate(exact_cdfs(n, p)) if cdf > x)


def decimal_cdfs(n: int, p: Fraction, c: int, digits: int = 90) -> list[Decimal]:
    """BinCDF(n, p, 0..c) for huge n in 90-digit decimals: (1-p)^n as exp(n·ln(1-p)), then
    the term ratio (n-k+1)/k · p/(1-p)."""
    with localcontext() as ctx:
        ctx.prec = digits
        q = Decimal(p.denominator - p.numerator) / Decimal(p.denominator)
        odds = Decimal(p.numerator) / Decimal(p.denominator - p.numerator)
        term = (n * q.ln()).exp()
        out = [term]
        for k in range(1, c + 1):
            term = term * (n - k + 1) / k * odds
            out.append(out[-1] + term)
        return out


def proof_with_x(k: int) -> bytes:
    """A stand-in VRF output whose first 8 bytes read as k (sortition only reads those)."""
    return k.to_bytes(8, "little") + bytes(72)


# --- encoding ----------------------------------------------------------------------------------


def test_vrf_message_layout():
    # scale{Type=2 compact16, Beacon 4 raw bytes, Round compact32, Layer compact32}
    assert hare_vrf_message(b"\xaa\xbb\xcc\xdd", 9, 1000) == bytes([2 << 2]) + b"\xaa\xbb\xcc\xdd" + bytes(
        [9 << 2]
    ) + (1000 << 2 | 1).to_bytes(2, "little")


def test_x_is_little_endian_first_eight_bytes():
    proof = bytes([1, 0, 0, 0, 0, 0, 0, 0x80]) + b"\xff" * 72
    assert vrf_fraction(proof) == Fraction(2**63 + 1, TWO64)
    assert vrf_fraction(b"\xff" * 80) == Fraction(TWO64 - 1, TWO64)


# --- exact agreement for small n ---------------------------------------------------------------


@pytest.mark.parametrize(
    "n, p",
    [(1, Fraction(1, 2)), (5, Fraction(1, 3)), (17, Fraction(7, 10)), (40, Fraction(800, 10_000)), (64, Fraction(1, 64))],
)
def test_counts_match_exact_cdf_at_every_boundary(n, p):
    """Around every CDF value (the x where the count steps) the count equals the exact one."""
    for c, cdf in enumerate(exact_cdfs(n, p)[:-1]):
        floor_k = math.floor(cdf * TWO64)  # the largest k/2^64 <= CDF(c)
        for k in (floor_k - 1, floor_k, floor_k + 1):
            if 0 <= k < TWO64:
                x = Fraction(k, TWO64)
                assert binomial_quantile(n, p, x) == exact_quantile(n, p, x)
        at = Fraction(floor_k, TWO64)
        # CDF(c) > x: c seats suffice; CDF(c) == x (a tie) is not "greater", so one more is needed
        assert binomial_quantile(n, p, at) <= c if at < cdf else binomial_quantile(n, p, at) == c + 1
        if floor_k + 1 < TWO64:
            assert binomial_quantile(n, p, Fraction(floor_k + 1, TWO64)) > c  # x > CDF(c): c is too few


def test_exact_tie_is_not_greater():
    # n = 1, p = 1/2: CDF(0) = 1/2 exactly; x = 1/2 must give 1, the next lower x gives 0
    assert binomial_quantile(1, Fraction(1, 2), Fraction(1, 2)) == 1
    assert binomial_quantile(1, Fraction(1, 2), Fraction(TWO64 // 2 - 1, TWO64)) == 0
    # n = 2, p = 1/2: CDF = 1/4, 3/4, 1
    assert [binomial_quantile(2, Fraction(1, 2), Fraction(k, 4)) for k in range(4)] == [0, 1, 1, 2]


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 60),
    num=st.integers(1, 999),
    den_extra=st.integers(1, 1000),
    k=st.integers(0, TWO64 - 1),
)
def test_random_small_cases_match_exact(n, num, den_extra, k):
    p = Fraction(num, num + den_extra)
    x = Fraction(k, TWO64)
    assert binomial_quantile(n, p, x) == exact_quantile(n, p, x)


@pytest.mark.parametrize("n, p", [(5, Fraction(1, 3)), (30, Fraction(2, 7))])
def test_x_within_rounding_distance_of_a_cdf_value(n, p):
    """x a hair (1e-200) away from CDF(c), or equal to a non-dyadic CDF(c): the first bounded
    pass cannot decide, refinement or the exact tie-break must give the exact answer."""
    hair = Fraction(1, 10**200)
    for c, cdf in enumerate(exact_cdfs(n, p)[:-1]):
        for x in (cdf - hair, cdf, cdf + hair):
            assert binomial_quantile(n, p, x) == exact_quantile(n, p, x) == (c if x < cdf else c + 1)


def test_tie_for_n_too_large_for_exact_arithmetic_counts_as_not_greater():
    n, p = 12_000, Fraction(1, 1000)  # (999/1000)^12000 has ~120k-bit terms: past the exact limit
    # CDF(12) = sum_k comb(n, k)·999^(n-k) / 1000^n, summed in integers
    x = Fraction(sum(math.comb(n, k) * 999 ** (n - k) for k in range(13)), 1000**n)
    assert binomial_quantile(n, p, x) == 13  # CDF(12) == x is not "greater"
    assert binomial_quantile(n, p, x - Fraction(1, 10**300)) == 12
    assert binomial_quantile(n, p, x + Fraction(1, 10**300)) == 13


def test_degenerate_parameters():
    assert binomial_quantile(0, Fraction(1, 2), Fraction(0)) == 0
    assert binomial_quantile(10, Fraction(0), Fraction(TWO64 - 1, TWO64)) == 0
    assert binomial_quantile(10, Fraction(1), Fraction(0)) == 10
    with pytest.raises(ValueError):
        binomial_quantile(3, Fraction(1, 2), Fraction(1))
    with pytest.raises(ValueError):
        binomial_quantile(3, Fraction(3, 2), Fraction(0))


# --- eligibility_count: weights, scaling -------------------------------------------------------


def test_eligibility_count_parameters():
    x_half = proof_with_x(TWO64 // 2 + 12345)
    x = vrf_fraction(x_half)
    # committee <= total: n = weight, p = committee / total
    assert eligibility_count(x_half, 50, 200, 40) == exact_quantile(50, Fraction(40, 200), x)
    # committee > total: both scaled by the committee -> n = weight*committee, p = 1/total
    assert eligibility_count(x_half, 2, 7, 30) == exact_quantile(60, Fraction(1, 7), x)
    # committee == total: p = 1, every unit of weight is a seat
    assert eligibility_count(x_half, 9, 40, 40) == 9
    assert eligibility_count(x_half, 0, 40, 10) == 0
    with pytest.raises(ValueError):
        eligibility_count(x_half, 41, 40, 10)


@pytest.mark.parametrize("weight, total", [(10**12, 10**13), (3 * 10**12 + 7, 4 * 10**12 + 1), (10**15, 10**18)])
@pytest.mark.parametrize("k", [1, TWO64 // 7, TWO64 // 2, TWO64 - TWO64 // 1000, TWO64 - 1])
def test_huge_weights_match_decimal_reference(weight, total, k):
    committee = 800
    proof = proof_with_x(k)
    x = vrf_fraction(proof)
    count = eligibility_count(proof, weight, total, committee)
    p = Fraction(committee, total)
    x_dec = Decimal(k) / Decimal(TWO64)
    cdfs = decimal_cdfs(weight, p, count)
    assert cdfs[-1] > x_dec + Decimal(10) ** -60  # CDF(count) > x, with room beyond rounding error
    if count:
        assert cdfs[-2] <= x_dec - Decimal(10) ** -60
    assert x < 1


def test_mean_count_matches_expected_committee_share():
    """Over a uniform grid of x the mean count is E[count] = n·p (quasi-Monte Carlo, deterministic)."""
    weight, total, committee, points = 3 * 10**11, 10**12, 800, 256  # n·p = 240
    counts = [eligibility_count(proof_with_x((2 * i + 1) * TWO64 // (2 * points)), weight, total, committee) for i in range(points)]
    assert abs(sum(counts) / points - 240) < 1.5
    assert counts == sorted(counts)  # the quantile function is non-decreasing in x
    # the grid's median point sits near the binomial median (~240) and far from the tails
    assert 235 <= counts[points // 2] <= 245


def test_real_vrf_counts_sum_to_committee():
    """Counts from real VRF proofs of several identities add up to about the committee size."""
    keys = [bytes([i]) * 32 for i in range(1, 9)]
    weights = [1, 2, 3, 4, 5, 6, 7, 8]
    total, committee = sum(weights), 360  # committee > total: exercises the scaling path
    message = hare_vrf_message(b"\x01\x02\x03\x04", 6, 42)
    seats = [eligibility_count(ecvrf.prove(k, message), w, total, committee) for k, w in zip(keys, weights)]
    # each identity's count ~ Bin(w·360, 1/36): sum ~ Bin(12960, 1/36), mean 360, sd ~ 18.7
    assert 250 < sum(seats) < 470
    assert all(s > 0 for s in seats[3:])  # P(0 seats | mean >= 40) < 1e-17
