"""Network parameters of PoST (spec/post.md §1.6): frozen presets plus validated overrides.

A preset fixes everything a verifier on that network checks (labels per unit, unit range, K1/K2/K3,
k2pow difficulty, scrypt N) and the defaults a prover uses (file size, nonces per pass, RandomX mode).
Flags may override the init-shape fields (`labels_per_unit`, `scrypt_n`, `max_file_size`); such data
then only proves against a network with the same values.
"""

from __future__ import annotations

import dataclasses

from core.config import node as nodes
from core.config.node import NodeConfig
from core.errors import InvalidInput

GIB = 1 << 30
DEFAULT_MAX_FILE_SIZE = 4 * GIB  # 2^28 labels per file
MIN_MAX_FILE_SIZE = 1024  # Go's config.Validate lower bound
LABEL_SIZE = 16
MAX_U32 = (1 << 32) - 1

MAINNET_POW_DIFFICULTY = bytes.fromhex("000dfb23b0979b4b") + bytes(24)
EASY_POW_DIFFICULTY = b"\xff" * 32


class ParamsError(InvalidInput):
    """PoST parameters that are inconsistent or outside the network's limits."""


@dataclasses.dataclass(frozen=True)
class PostParams:
    """Everything that shapes PoST data and proofs on one network."""

    name: str
    labels_per_unit: int
    min_num_units: int
    max_num_units: int
    default_num_units: int
    k1: int
    k2: int
    k3: int
    pow_difficulty: bytes  # 32 bytes big-endian, before division by num_units
    scrypt_n: int = 8192
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    nonces: int = 16  # proving: nonces per pass (a multiple of 16)
    randomx_mode: str = "fast"  # "fast" (2 GiB dataset) or "light" (256 MiB cache)
    compute_batch_size: int = 1 << 20

    def num_labels(self, num_units: int) -> int:
        return num_units * self.labels_per_unit

    def replace(self, **changes: object) -> PostParams:
        """A copy with some fields changed (None values are ignored), validated."""
        params = dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
        params.validate()
        return params

    def validate(self) -> None:
        check_scrypt_n(self.scrypt_n)
        check_max_file_size(self.max_file_size)
        if self.labels_per_unit < 1:
            raise ParamsError(f"labels per unit must be at least 1, got {self.labels_per_unit}")
        if not 1 <= self.min_num_units <= self.max_num_units <= MAX_U32:
            raise ParamsError(f"invalid unit range {self.min_num_units}..{self.max_num_units}")
        if min(self.k1, self.k2, self.k3) < 1:
            raise ParamsError("K1, K2 and K3 must be positive")
        if len(self.pow_difficulty) != 32:
            raise ParamsError("the k2pow difficulty must be 32 bytes")
        check_nonces(self.nonces)
        if self.randomx_mode not in ("fast", "light"):
            raise ParamsError(f"RandomX mode must be fast or light, got {self.randomx_mode!r}")

    def check_num_units(self, num_units: int) -> None:
        """Refuse a unit count this network's verifiers would reject (post-rs `verify_metadata`)."""
        if not isinstance(num_units, int) or num_units < 1:
            raise ParamsError(f"the number of units must be at least 1, got {num_units}")
        if num_units > MAX_U32:
            raise ParamsError(f"the number of units must fit in 32 bits, got {num_units}")
        if num_units < self.min_num_units:
            raise ParamsError(f"{num_units} units is below the {self.name} minimum of {self.min_num_units}")
        if num_units > self.max_num_units:
            raise ParamsError(f"{num_units} units is above the {self.name} maximum of {self.max_num_units}")


def check_scrypt_n(n: int) -> None:
    if not isinstance(n, int) or n < 2 or n & (n - 1):
        raise ParamsError(f"scrypt N must be a power of two of at least 2, got {n}")


def check_max_file_size(size: int) -> None:
    if not isinstance(size, int) or size < MIN_MAX_FILE_SIZE or size % LABEL_SIZE:
        raise ParamsError(
            f"the maximum file size must be a multiple of {LABEL_SIZE} bytes and at least {MIN_MAX_FILE_SIZE}, "
            f"got {size}"
        )


def check_nonces(nonces: int) -> None:
    """post-service rule: a positive multiple of 16, at most 4096 (256 nonce groups)."""
    if not isinstance(nonces, int) or nonces < 16 or nonces % 16 or nonces > 4096:
        raise ParamsError(f"nonces must be a multiple of 16 between 16 and 4096, got {nonces}")


def _from_network(network: NodeConfig, default_num_units: int, pow_difficulty: bytes, **prover: object) -> PostParams:
    """PoST parameters of a node preset: the shape a verifier checks, plus prover defaults."""
    return PostParams(
        name=network.preset,
        labels_per_unit=network.labels_per_unit,
        min_num_units=network.min_num_units,
        max_num_units=network.max_num_units,
        default_num_units=default_num_units,
        k1=network.k1,
        k2=network.k2,
        k3=network.k3,
        scrypt_n=network.scrypt_n,
        pow_difficulty=pow_difficulty,
        **prover,
    )


MAINNET = _from_network(nodes.MAINNET, 4, MAINNET_POW_DIFFICULTY, nonces=288, randomx_mode="fast")
# the all-ff target makes RandomX's 2 GiB dataset pointless: light mode on every other network
TESTNET = _from_network(nodes.TESTNET, 2, EASY_POW_DIFFICULTY, nonces=288, randomx_mode="light")
STANDALONE = _from_network(nodes.STANDALONE, 1, EASY_POW_DIFFICULTY, nonces=16, randomx_mode="light")
FASTNET = _from_network(
    nodes.FASTNET, 2, EASY_POW_DIFFICULTY, nonces=16, randomx_mode="light", compute_batch_size=128
)

PRESETS: dict[str, PostParams] = {p.name: p for p in (MAINNET, TESTNET, STANDALONE, FASTNET)}


def preset(name: str) -> PostParams:
    try:
        return PRESETS[name.lower()]
    except KeyError:
        raise ParamsError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
