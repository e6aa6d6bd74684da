"""Node configuration: network presets, a config file and flags on top (spec/node.md §1.1, §10).

A `NodeConfig` is frozen and validated as a whole; `load_config` layers a preset, a TOML or JSON
file and command-line overrides, and any unknown key or impossible value fails at start-up
with one line naming it.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.crypto.hashing import genesis_id, golden_atx
from core.errors import InvalidInput


class ConfigError(InvalidInput):
    """A configuration that cannot run."""


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    preset: str
    hrp: str
    genesis_extra_data: str
    genesis_time: int | None  # Unix seconds; None until given (standalone, devnet)
    layer_duration: float  # seconds
    layers_per_epoch: int
    layer_avg_size: int = 50
    hdist: int = 10
    zdist: int = 8
    hare_committee: int = 800
    hare_leaders: int = 5
    hare_preround_delay: float = 25.0
    hare_round_duration: float = 12.0
    hare_iteration_limit: int = 4
    eligibility_confidence: int = 1
    certificate_committee: int = 800
    beacon_rounds: int = 300
    # the simplified beacon protocol's two phases (spec §4, §11), go-spacemesh's option names;
    # None: one layer each, at most a quarter of an epoch (see beacon_phases)
    beacon_proposal_duration: float | None = None
    beacon_first_voting_round_duration: float | None = None
    labels_per_unit: int = 512
    min_num_units: int = 1
    max_num_units: int = 100
    k1: int = 26
    k2: int = 37
    k3: int = 37
    scrypt_n: int = 8192
    tick_size: int = 100
    poet_phase_shift: float | None = None  # None: half an epoch (small presets, spec §10.4)
    poet_cycle_gap: float | None = None  # None: half an epoch
    poet_grace_period: float = 0.0
    min_active_set_weight: int = 0
    atx_grade_delay: float = 10.0
    txs_per_proposal: int = 100
    block_gas_limit: int = 2**64 - 1
    genesis_accounts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    # the API (spec/api-ecosystem.md §1.1): go-spacemesh's option names and defaults; "" turns a listener off
    grpc_public_listener: str = "0.0.0.0:9092"
    grpc_private_listener: str = "127.0.0.1:9093"
    grpc_json_listener: str = ""
    grpc_cors_allowed_origin: tuple[str, ...] = ()

    # ---------------------------------------------------------------------------------------
    @property
    def effective_genesis(self) -> int:
        """The last layer of epoch 1: the mesh starts applied up to here."""
        return 2 * self.layers_per_epoch - 1

    @property
    def epoch_duration(self) -> float:
        return self.layer_duration * self.layers_per_epoch

    @property
    def phase_shift(self) -> float:
        return self.epoch_duration / 2 if self.poet_phase_shift is None else self.poet_phase_shift

    @property
    def cycle_gap(self) -> float:
        return self.epoch_duration / 2 if self.poet_cycle_gap is None else self.poet_cycle_gap

    @property
    def beacon_phases(self) -> tuple[float, float]:
        """Seconds after an epoch's start when its beacon votes go out (proposals arriving later are
        late) and when beacon(epoch + 1) is decided.  Gossip delay is the same whatever the layer
        length, so the default is a whole layer per phase rather than a fraction of one."""
        default = min(self.layer_duration, self.epoch_duration / 4)
        proposals = default if self.beacon_proposal_duration is None else self.beacon_proposal_duration
        voting = default if self.beacon_first_voting_round_duration is None else self.beacon_first_voting_round_duration
        return proposals, proposals + voting

    def require_genesis_time(self) -> int:
        if self.genesis_time is None:
            raise ConfigError(f"the {self.preset} preset needs a genesis time (--genesis-time)")
        return self.genesis_time

    @property
    def genesis_id(self) -> bytes:
        return genesis_id(self.require_genesis_time(), self.genesis_extra_data)

    @property
    def golden_atx(self) -> bytes:
        return golden_atx(self.require_genesis_time(), self.genesis_extra_data)

    def validate(self) -> NodeConfig:
        """Reject values no node could run with; returns self for chaining."""
        checks = [
            (self.layer_duration > 0, "layer-duration must be positive"),
            (self.layers_per_epoch >= 2, "layers-per-epoch must be at least 2"),
            (0 < self.zdist <= self.hdist, "tortoise needs 0 < zdist <= hdist"),
            (self.layer_avg_size > 0, "layer-avg-size must be positive"),
            (self.hare_committee > 0 and self.hare_leaders > 0, "hare committee and leaders must be positive"),
            (self.hare_iteration_limit > 0, "hare iteration limit must be positive"),
            (1 <= self.min_num_units <= self.max_num_units, "PoST needs 1 <= min units <= max units"),
            (0 < self.k3 <= self.k2, "PoST needs 0 < K3 <= K2"),
            (self.k1 > 0 and self.k2 > 0, "PoST K1 and K2 must be positive"),
            (self.scrypt_n >= 2 and self.scrypt_n & (self.scrypt_n - 1) == 0, "scrypt N must be a power of two >= 2"),
            (self.labels_per_unit > 0, "labels-per-unit must be positive"),
            (self.tick_size > 0, "tick-size must be positive"),
            (
                0 <= self.cycle_gap < self.epoch_duration and 0 <= self.phase_shift <= self.epoch_duration,
                "PoET phase shift and cycle gap must fit in an epoch",
            ),
            (
                min(self.beacon_phases) > 0 and self.beacon_phases[1] <= self.epoch_duration - self.layer_duration,
                "beacon proposal and first voting round durations must be positive and end before an epoch's "
                "last layer",
            ),
            (self.poet_grace_period >= 0, "PoET grace period must not be negative"),
            (self.block_gas_limit > 0, "block gas limit must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"invalid config ({self.preset}): {message}")
        for key in ("grpc_public_listener", "grpc_private_listener", "grpc_json_listener"):
            value = getattr(self, key)
            if value and not _valid_listener(value):
                raise ConfigError(f"invalid config ({self.preset}): {key.replace('_', '-')} {value!r} is not HOST:PORT")
        for address, balance in self.genesis_accounts.items():
            if not isinstance(balance, int) or not 0 <= balance < 2**63:  # more than all SMH that will exist
                raise ConfigError(f"genesis account {address}: balance must be 0 to 2^63-1 smidge")
        return self


def _valid_listener(value: str) -> bool:
    host, sep, port = value.rpartition(":")
    return bool(sep and host) and port.isdigit() and 0 <= int(port) <= 65535


STANDALONE = NodeConfig(
    preset="standalone",
    hrp="standalone",
    genesis_extra_data="standalone",
    genesis_time=None,
    layer_duration=6.0,
    layers_per_epoch=10,
    hdist=2,
    zdist=2,
    hare_preround_delay=1.0,
    hare_round_duration=0.1,
    eligibility_confidence=2,
    beacon_rounds=4,
    labels_per_unit=64,
    min_num_units=1,
    max_num_units=2,
    k1=12,
    k2=4,
    k3=1,
    poet_grace_period=12.0,
    grpc_public_listener="0.0.0.0:10092",
    grpc_private_listener="127.0.0.1:10093",
    grpc_json_listener="0.0.0.0:10095",
    grpc_cors_allowed_origin=("*",),  # a local network: browser wallets may call it from anywhere
)

FASTNET = dataclasses.replace(
    STANDALONE,
    preset="fastnet",
    hrp="stest",
    genesis_extra_data="fastnet",
    layer_duration=15.0,
    layers_per_epoch=4,
    hdist=4,
    hare_leaders=10,
    hare_preround_delay=3.0,
    hare_round_duration=0.7,
    hare_iteration_limit=2,
    labels_per_unit=128,
    min_num_units=2,
    max_num_units=4,
    scrypt_n=2,
    poet_grace_period=10.0,
    atx_grade_delay=1.0,
    grpc_public_listener="0.0.0.0:9092",
    grpc_private_listener="127.0.0.1:9093",
    grpc_json_listener="",
    grpc_cors_allowed_origin=(),
)

# A local multi-node network: standalone timing, several smeshers, a tiny PoST.
DEVNET = dataclasses.replace(STANDALONE, preset="devnet", genesis_extra_data="devnet", hdist=4, hare_committee=100)

TESTNET = NodeConfig(
    preset="testnet",
    hrp="stest",
    genesis_extra_data="0000000000000000000000c76c58ebac180989673fd6d237b40e66ed5c976ec3",
    genesis_time=1694628000,
    layer_duration=300.0,
    layers_per_epoch=288,
    zdist=2,
    eligibility_confidence=20,
    certificate_committee=200,
    beacon_rounds=20,
    labels_per_unit=1024,
    min_num_units=2,
    max_num_units=2**32 - 1,
    k3=1,
    tick_size=666514,
    poet_phase_shift=12 * 3600.0,
    poet_cycle_gap=2 * 3600.0,
    poet_grace_period=600.0,
    min_active_set_weight=10_000,
    atx_grade_delay=1800.0,
    txs_per_proposal=700,
    block_gas_limit=100_107_000,
)

MAINNET = dataclasses.replace(
    TESTNET,
    preset="mainnet",
    hrp="sm",
    genesis_extra_data="00000000000000000001a6bc150307b5c1998045752b3c87eccf3c013036f3cc",
    genesis_time=1689321600,
    layers_per_epoch=4032,
    hare_committee=400,
    eligibility_confidence=200,
    beacon_rounds=0,
    labels_per_unit=2**32,
    min_num_units=4,
    tick_size=9_331_200,
    poet_phase_shift=240 * 3600.0,
    poet_cycle_gap=12 * 3600.0,
    poet_grace_period=3600.0,
    min_active_set_weight=1_000_000,
)

PRESETS: dict[str, NodeConfig] = {c.preset: c for c in (STANDALONE, FASTNET, DEVNET, TESTNET, MAINNET)}
_FIELDS = {f.name: f for f in dataclasses.fields(NodeConfig)}


def parse_genesis_time(value: str | int | float, now: float | None = None) -> int:
    """Unix seconds from an integer, RFC 3339 text, or `now+30s` / `now+2m` relative to `now`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    text = str(value).strip()
    if text.startswith("now"):
        import time

        base = time.time() if now is None else now
        rest = text[3:].strip()
        if not rest:
            return int(base)
        units = {"s": 1, "m": 60, "h": 3600}
        sign, amount, unit = rest[0], rest[1:-1], rest[-1]
        if sign not in "+-" or unit not in units or not amount.isdigit():
            raise ConfigError(f"invalid genesis time {text!r}: use e.g. now+30s, an RFC 3339 time or Unix seconds")
        delta = int(amount) * units[unit]
        return int(base + delta if sign == "+" else base - delta)
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"invalid genesis time {text!r}: use e.g. now+30s, an RFC 3339 time or Unix seconds") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp())


def _read_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    try:
        data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold an object of settings")
    return data


def _coerce(name: str, value: Any) -> Any:
    field = _FIELDS[name]
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    try:
        if name == "genesis_time":
            return None if value is None else parse_genesis_time(value)
        if name == "genesis_accounts":
            if not isinstance(value, Mapping):
                raise TypeError
            return {str(k): int(v) for k, v in value.items()}
        if name == "grpc_cors_allowed_origin":
            values = [value] if isinstance(value, str) else list(value)
            if not all(isinstance(v, str) for v in values):
                raise TypeError
            return tuple(values)
        if kind.startswith("int"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if kind.startswith("float"):
            return None if value is None else float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config key {name.replace('_', '-')}: invalid value {value!r}") from None


def load_config(
    preset: str = "standalone", file: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> NodeConfig:
    """Preset, then the file, then flag overrides (keys with dashes or underscores); validated."""
    try:
        config = PRESETS[preset]
    except KeyError:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}") from None
    layers: list[Mapping[str, Any]] = []
    if file is not None:
        layers.append(_read_file(file))
    if overrides:
        layers.append({k: v for k, v in overrides.items() if v is not None})
    for layer in layers:
        changes = {}
        for key, value in layer.items():
            name = key.replace("-", "_")
            if name not in _FIELDS or name == "preset":
                raise ConfigError(f"unknown config key {key!r}")
            changes[name] = _coerce(name, value)
        config = dataclasses.replace(config, **changes)
    return config.validate()
