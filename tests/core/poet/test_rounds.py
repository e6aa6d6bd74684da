"""The PoET round schedule and the time formats of its API (spec/poet.md §2.2, §2.7)."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.poet.rounds import (
    RoundSchedule,
    duration_from_json,
    duration_parts,
    duration_to_json,
    format_duration,
    parse_duration,
    parse_round_id,
    parse_time,
    timestamp_from_json,
    timestamp_to_json,
)

H = 3600.0


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


MAINNET = RoundSchedule(genesis=ts("2023-07-14T08:00:00"), epoch=336 * H, phase_shift=240 * H, cycle_gap=12 * H)


def test_mainnet_round_ends_match_the_go_spacemesh_issues():
    # spec §2.2: round 3 ends 2023-09-17 20:00 UTC, round 4 ends 2023-10-01 20:00 UTC (#4967, #5029)
    assert MAINNET.round_end(3) == ts("2023-09-17T20:00:00")
    assert MAINNET.round_end(4) == ts("2023-10-01T20:00:00")
    assert MAINNET.round_start(0) == ts("2023-07-24T08:00:00")  # genesis + 240 h
    assert MAINNET.work_time == 324 * H


def test_open_round_boundaries():
    s = RoundSchedule(genesis=1000.0, epoch=60.0, phase_shift=30.0, cycle_gap=10.0)
    assert s.open_round_id(0.0) == 0  # before genesis
    assert s.open_round_id(1029.999) == 0
    assert s.open_round_id(1030.0) == 1  # round 0 closed at genesis + PS
    assert s.open_round_id(1089.999) == 1
    assert s.open_round_id(1090.0) == 2
    assert s.round_start(1) == 1090.0
    assert s.round_end(1) == 1140.0  # start + E - CG
    assert s.open_round_closes(1050.0) == 1090.0


def test_zero_phase_shift_and_zero_cycle_gap():
    s = RoundSchedule(genesis=0.0, epoch=10.0, phase_shift=0.0, cycle_gap=0.0)
    assert s.open_round_id(0.0) == 1
    assert s.round_end(0) == s.round_start(1) == 10.0


@given(
    genesis=st.floats(0, 2e9),
    epoch=st.floats(1, 1e6),
    shift_frac=st.floats(0, 2),
    gap_frac=st.floats(0, 0.99),
    offset=st.floats(0, 1e8),
)
def test_open_round_is_the_one_whose_start_is_next(genesis, epoch, shift_frac, gap_frac, offset):
    s = RoundSchedule(genesis, epoch, shift_frac * epoch, gap_frac * epoch)
    now = genesis + offset
    eps = 1e-6 * max(1.0, abs(now))  # float rounding at these magnitudes
    r = s.open_round_id(now)
    assert s.round_start(r) > now - eps
    if r > 0:
        assert s.round_start(r - 1) <= now + eps
    assert s.round_end(r) <= s.round_start(r + 1) + eps


@pytest.mark.parametrize(
    ("epoch", "shift", "gap", "message"),
    [
        (0, 0, 0, "epoch duration must be positive"),
        (10, -1, 0, "phase shift must not be negative"),
        (10, 0, 10, "cycle gap must be at least 0 and shorter than the epoch"),
        (10, 0, -1, "cycle gap"),
    ],
)
def test_impossible_schedules_are_rejected(epoch, shift, gap, message):
    with pytest.raises(InvalidInput, match=message):
        RoundSchedule(0.0, epoch, shift, gap)


def test_round_ids():
    assert parse_round_id("0") == 0
    assert parse_round_id("18446744073709551615") == 2**64 - 1
    for bad in ("", "-1", "1.0", "abc", " 1", "18446744073709551616", "١"):
        with pytest.raises(InvalidInput):
            parse_round_id(bad)
    with pytest.raises(InvalidInput):
        RoundSchedule(0.0, 1.0, 0.0, 0.0).round_start(-1)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1h30m", 5400), ("336h", 336 * H), ("1.5s", 1.5), ("500ms", 0.5), ("0", 0), ("45", 45), ("2m0.5s", 120.5)],
)
def test_go_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "10x", "-5s", "1h-3m", "abc", "nan", "inf"])
def test_bad_go_durations(text):
    with pytest.raises(InvalidInput):
        parse_duration(text, "cycle gap")


def test_format_duration():
    assert format_duration(336 * H) == "336h"
    assert format_duration(90) == "1m30s"
    assert format_duration(2.5) == "2.5s"
    assert format_duration(30) == "30s"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (1166399.512, "1166399.512s"), (15, "15s"), (1.000001, "1.000001s"), (3e-9, "0.000000003s"), (-1.5, "-1.500s")],
)
def test_protojson_durations(seconds, text):
    assert duration_to_json(seconds) == text


def test_protojson_duration_parsing():
    assert duration_from_json("1166399.512s") == pytest.approx(1166399.512)
    assert duration_from_json("-0.5s") == -0.5
    assert duration_parts(-1.25) == (-1, -250_000_000)
    for bad in ("1.5", "s", "1.1234567891s", "1m", "", "315576000001s"):
        with pytest.raises(InvalidInput):
            duration_from_json(bad)


def test_protojson_timestamps():
    assert timestamp_from_json("2024-05-05T08:00:00Z") == ts("2024-05-05T08:00:00")
    assert timestamp_from_json("2024-05-05T10:00:00+02:00") == ts("2024-05-05T08:00:00")
    assert timestamp_from_json("2024-05-05T08:00:00.25z") == ts("2024-05-05T08:00:00") + 0.25
    assert timestamp_to_json(ts("2024-05-05T08:00:00")) == "2024-05-05T08:00:00Z"
    assert timestamp_to_json(ts("2024-05-05T08:00:00") + 0.5) == "2024-05-05T08:00:00.500Z"
    for bad in ("2024-05-05", "2024-13-01T00:00:00Z", "2024-05-05T08:00:00", "yesterday", "2024-02-30T00:00:00Z"):
        with pytest.raises(InvalidInput):
            timestamp_from_json(bad)


def test_flag_times():
    assert parse_time("2023-07-14T08:00:00Z") == MAINNET.genesis
    assert parse_time("1689321600") == MAINNET.genesis
    with pytest.raises(InvalidInput, match="neither RFC 3339"):
        parse_time("tomorrow", "genesis time")
