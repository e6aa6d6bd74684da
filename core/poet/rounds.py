"""The PoET round schedule (spec/poet.md §2.2) and the duration/time formats the service speaks.

Round `id` opens for registration at `RoundStart(id-1)` (round 0: whenever the service starts),
closes at `RoundStart(id) = genesis + PhaseShift + id·Epoch`, and its proof of sequential work
runs until `RoundEnd(id) = RoundStart(id) + Epoch - CycleGap`.  The gap before the next round
closes is when nodes fetch proofs and register again.

Times are Unix seconds as floats; durations are seconds.  Everything here is pure.
"""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import UTC, datetime

from core.errors import InvalidInput


@dataclasses.dataclass(frozen=True)
class RoundSchedule:
    """`server.RoundConfig`: genesis plus epoch length, phase shift and cycle gap."""

    genesis: float
    epoch: float
    phase_shift: float
    cycle_gap: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.genesis):
            raise InvalidInput("genesis time must be a finite time")
        if not (self.epoch > 0 and math.isfinite(self.epoch)):
            raise InvalidInput(f"epoch duration must be positive, got {format_duration(self.epoch)}")
        if not (0 <= self.phase_shift < math.inf):
            raise InvalidInput(f"phase shift must not be negative, got {format_duration(self.phase_shift)}")
        if not (0 <= self.cycle_gap < self.epoch):
            raise InvalidInput(
                f"cycle gap must be at least 0 and shorter than the epoch ({format_duration(self.epoch)}), "
                f"got {format_duration(self.cycle_gap)}"
            )

    @property
    def work_time(self) -> float:
        """How long each round's proof of sequential work runs: `Epoch - CycleGap`."""
        return self.epoch - self.cycle_gap

    def round_start(self, round_id: int) -> float:
        """When round `round_id` stops taking registrations and its proof starts."""
        _check_round(round_id)
        return self.genesis + self.phase_shift + round_id * self.epoch

    def round_end(self, round_id: int) -> float:
        """When round `round_id`'s proof of sequential work stops."""
        return self.round_start(round_id) + self.epoch - self.cycle_gap

    def open_round_id(self, now: float) -> int:
        """The round taking registrations at `now`: 0 before `genesis + PhaseShift`."""
        since = now - self.genesis
        if since < self.phase_shift:
            return 0
        return int((since - self.phase_shift) // self.epoch) + 1

    def open_round_closes(self, now: float) -> float:
        """When the round open at `now` closes (its `RoundStart`)."""
        return self.round_start(self.open_round_id(now))


def _check_round(round_id: int) -> None:
    if not isinstance(round_id, int) or isinstance(round_id, bool) or round_id < 0:
        raise InvalidInput(f"round id must be a non-negative integer, got {round_id!r}")


def parse_round_id(text: str) -> int:
    """A round id as the API writes it: a decimal string of at most 20 digits (a uint64)."""
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > 20:
        raise InvalidInput(f"round id must be a decimal number, got {text!r}")
    value = int(text)
    if value >> 64:
        raise InvalidInput(f"round id {text} is out of range")
    return value


# ------------------------------------------------------------------------------------------------
# Go-style durations for flags and config ("30s", "1h30m", "336h", "1.5s", "500ms")

_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds from a Go duration string (`time.ParseDuration`); a bare number means seconds."""
    clean = text.strip() if isinstance(text, str) else ""
    if not clean:
        raise InvalidInput(f"{what} is empty: use a duration like 30s, 10m or 336h")
    try:
        value = float(clean)
    except ValueError:
        pass
    else:
        if not math.isfinite(value) or value < 0:
            raise InvalidInput(f"{what} must be a non-negative number of seconds, got {text!r}")
        return value
    sign = 1.0
    body = clean
    if body[0] in "+-":
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if m is None:
            raise InvalidInput(f"{what} {text!r} is not a duration like 30s, 1h30m or 336h")
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos == 0:
        raise InvalidInput(f"{what} {text!r} is not a duration like 30s, 1h30m or 336h")
    if sign < 0 and total:
        raise InvalidInput(f"{what} must not be negative, got {text!r}")
    return total


def format_duration(seconds: float) -> str:
    """A short human form: 336h, 1m30s, 2.5s."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds != int(seconds) or seconds < 60:
        return f"{seconds:g}s"
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{sec}s" if sec else "")
    return out or "0s"


# ------------------------------------------------------------------------------------------------
# protojson well-known types: google.protobuf.Duration and Timestamp

_NANOS = 1_000_000_000
_MAX_DURATION_SECONDS = 315_576_000_000
_PROTO_DURATION = re.compile(r"(-)?(\d+)(?:\.(\d{1,9}))?s")


def duration_to_json(seconds: float) -> str:
    """protojson Duration: `"<sec>[.frac]s"` with 0, 3, 6 or 9 fraction digits."""
    nanos_total = round(seconds * _NANOS)
    sign = "-" if nanos_total < 0 else ""
    secs, nanos = divmod(abs(nanos_total), _NANOS)
    if nanos == 0:
        frac = ""
    elif nanos % 1_000_000 == 0:
        frac = f".{nanos // 1_000_000:03d}"
    elif nanos % 1000 == 0:
        frac = f".{nanos // 1000:06d}"
    else:
        frac = f".{nanos:09d}"
    return f"{sign}{secs}{frac}s"


def duration_from_json(text: str) -> float:
    """Seconds from a protojson Duration string."""
    m = _PROTO_DURATION.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise InvalidInput(f"invalid duration {text!r}: expected seconds with an 's' suffix, like \"1.5s\"")
    secs = int(m.group(2))
    if secs > _MAX_DURATION_SECONDS:
        raise InvalidInput(f"duration {text!r} is out of range")
    nanos = int((m.group(3) or "").ljust(9, "0") or 0)
    value = secs + nanos / _NANOS
    return -value if m.group(1) else value


def duration_parts(seconds: float) -> tuple[int, int]:
    """(seconds, nanos) with matching signs, as google.protobuf.Duration holds them."""
    nanos_total = round(seconds * _NANOS)
    secs = abs(nanos_total) // _NANOS
    nanos = abs(nanos_total) % _NANOS
    return (-secs, -nanos) if nanos_total < 0 else (secs, nanos)


_MIN_TIMESTAMP = -62135596800  # 0001-01-01T00:00:00Z
_MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def timestamp_from_json(text: str) -> float:
    """Unix seconds from an RFC 3339 timestamp (protojson Timestamp; any offset is accepted)."""
    m = _RFC3339.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise InvalidInput(f"invalid timestamp {text!r}: expected RFC 3339, like 2024-05-05T08:00:00Z")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    try:
        base = datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
    except ValueError:
        raise InvalidInput(f"invalid timestamp {text!r}: no such date or time") from None
    frac = int((m.group(7) or "").ljust(9, "0") or 0) / _NANOS
    offset = 0
    if m.group(9):
        offset = (int(m.group(10)) * 60 + int(m.group(11))) * 60
        offset = offset if m.group(9) == "+" else -offset
    value = base - offset + frac
    if not _MIN_TIMESTAMP <= value <= _MAX_TIMESTAMP + 1:
        raise InvalidInput(f"timestamp {text!r} is out of range")
    return value


def timestamp_to_json(when: float) -> str:
    """RFC 3339 in UTC with a Z, fraction digits only when needed (protojson Timestamp).

    Float Unix seconds carry about a microsecond of precision, so that is where it rounds.
    """
    micros_total = round(when * 1_000_000)
    secs, micros = divmod(micros_total, 1_000_000)
    text = datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if micros:
        text += f".{micros // 1000:03d}" if micros % 1000 == 0 else f".{micros:06d}"
    return text + "Z"


def parse_time(text: str, what: str = "time") -> float:
    """Unix seconds from RFC 3339 (`2023-07-14T08:00:00Z`) or a plain Unix-seconds number."""
    clean = text.strip()
    try:
        value = float(clean)
    except ValueError:
        try:
            return timestamp_from_json(clean)
        except InvalidInput:
            raise InvalidInput(
                f"{what} {text!r} is neither RFC 3339 (like 2023-07-14T08:00:00Z) nor Unix seconds"
            ) from None
    if not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number of Unix seconds")
    return value
