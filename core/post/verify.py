"""Verification of proofs (spec/post.md §3; post-rs `verification.rs`) and of stored data (`verify_data`).

A proof is checked against the network's parameters, never the prover's: unit range and labels per
unit, the k2pow of the nonce group, the packed-indices length, then the §2.3 test on the labels at the
chosen indices, recomputed with scrypt.  Modes pick which of the K2 indices are recomputed:
`All`, `Subset(k3, seed)` (a seeded partial Fisher–Yates draw, as gossip validation does) and
`One(position)`.  Label computation and the k2pow check are injectable so tests can run without them.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
from collections.abc import Callable, Sequence
from typing import Any

import blake3

from core.errors import SmeshError
from core.post.compression import decompress_indices, expected_indices_bytes, required_bits
from core.post.difficulty import proving_difficulty, scale_pow_difficulty, split_difficulty, vrf_difficulty
from core.post.prove import NONCES_PER_AES, Proof, ProofMetadata, aes_block, group_key, nonce_key

LabelFn = Callable[[bytes, int, int], bytes]  # (commitment, index, scrypt N) → label (≥ 16 bytes)


class VerifyError(SmeshError):
    """A proof that does not verify; `position`/`index` name the failing label where there is one."""

    def __init__(self, message: str, *, position: int | None = None, index: int | None = None) -> None:
        super().__init__(message)
        self.position = position
        self.index = index


class DataCorrupt(SmeshError):
    """Stored labels that differ from their recomputation."""

    def __init__(self, message: str, bad: Sequence[BadLabel]) -> None:
        super().__init__(message)
        self.bad = tuple(bad)


# ------------------------------------------------------------------------------------------------
# Modes


@dataclasses.dataclass(frozen=True)
class All:
    """Recompute every one of the K2 labels (certifier, own initial proof, `postcli -genproof`)."""


@dataclasses.dataclass(frozen=True)
class Subset:
    """Recompute `k3` labels drawn with `seed` (gossip validation: K3 = 1, seed = the peer id)."""

    k3: int
    seed: bytes = b""


@dataclasses.dataclass(frozen=True)
class One:
    """Recompute the label at one position (0..K2−1) of the proof's index list (malfeasance proofs)."""

    position: int


Mode = All | Subset | One


def random_values(items: Sequence[int], seed_parts: Sequence[bytes], count: int) -> list[int]:
    """The first `count` draws of post-rs `RandomValuesIterator`: a partial Fisher–Yates shuffle of
    `items` driven by LE u16s from the BLAKE3 XOF of the concatenated seed, rejecting draws at or
    above 65535 − 65535 mod remaining."""
    data = list(items)
    hasher = blake3.blake3()
    for part in seed_parts:
        hasher.update(part)
    stream = _XofReader(hasher)
    out = []
    for idx in range(min(count, len(data))):
        remaining = len(data) - idx
        limit = 0xFFFF - 0xFFFF % remaining
        while True:
            draw = int.from_bytes(stream.read(2), "little")
            if draw < limit:
                break
        swap = idx + draw % remaining
        data[idx], data[swap] = data[swap], data[idx]
        out.append(data[idx])
    return out


class _XofReader:
    def __init__(self, hasher: Any) -> None:
        self.hasher = hasher
        self.pos = 0
        self.buf = b""

    def read(self, n: int) -> bytes:
        if len(self.buf) < n:
            self.buf += self.hasher.digest(length=4096, seek=self.pos)
            self.pos += 4096
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def select_positions(mode: Mode, k2: int, node_id: bytes, challenge: bytes) -> list[int]:
    """Positions (0..K2−1) in the proof's index list whose labels a mode recomputes, in check order."""
    if isinstance(mode, All):
        return list(range(k2))
    if isinstance(mode, One):
        if not 0 <= mode.position < k2:
            raise VerifyError(f"index position {mode.position} is outside 0..{k2 - 1}")
        return [mode.position]
    if isinstance(mode, Subset):
        if mode.k3 < 1:
            raise VerifyError("K3 must be at least 1")
        if mode.k3 >= k2:
            return list(range(k2))
        return random_values(range(k2), (mode.seed, node_id, challenge), mode.k3)
    raise TypeError(f"unknown verification mode {mode!r}")


# ------------------------------------------------------------------------------------------------
# Proofs


@dataclasses.dataclass(frozen=True)
class VerifyParams:
    """The network side of verification (from a `PostParams` preset)."""

    k1: int
    k2: int
    k3: int
    pow_difficulty: bytes
    labels_per_unit: int
    min_num_units: int
    max_num_units: int
    scrypt_n: int
    randomx_mode: str = "light"

    @classmethod
    def from_params(cls, params: Any) -> VerifyParams:
        return cls(
            params.k1, params.k2, params.k3, params.pow_difficulty, params.labels_per_unit,
            params.min_num_units, params.max_num_units, params.scrypt_n,
        )  # fmt: skip


PowCheck = Callable[[int, int, bytes, bytes, bytes], bool]  # (pow, group, challenge, target, miner) → ok


def default_label_fn(provider: int | str | None = "cpu") -> LabelFn:
    """Labels from the CPU backend of `core.post.labels`, one index at a time."""
    from core.post import labels

    backend = labels.get_backend(provider)

    def label(commitment: bytes, index: int, n: int) -> bytes:
        return bytes(backend.compute(commitment, index, 1, n)[0])

    return label


def _default_pow_check(mode: str) -> PowCheck:
    from core.post.k2pow import verify_k2pow

    def check(pow_value: int, group: int, challenge: bytes, target: bytes, miner: bytes) -> bool:
        return verify_k2pow(pow_value, group, challenge, target, miner, mode=mode)

    return check


def verify_proof(
    proof: Proof,
    meta: ProofMetadata,
    params: VerifyParams,
    mode: Mode | None = None,
    *,
    label_fn: LabelFn | None = None,
    pow_check: PowCheck | None = None,
) -> list[int]:
    """Raise `VerifyError` unless the proof is valid; returns the label indices that were checked."""
    from core.crypto.hashing import hash32 as calc_commitment

    mode = All() if mode is None else mode
    if meta.labels_per_unit != params.labels_per_unit:
        raise VerifyError(f"invalid labels_per_unit: {meta.labels_per_unit} != {params.labels_per_unit}")
    if meta.num_units < params.min_num_units:
        raise VerifyError(f"numunits too small: {meta.num_units} < {params.min_num_units}")
    if meta.num_units > params.max_num_units:
        raise VerifyError(f"numunits too large: {meta.num_units} > {params.max_num_units}")
    if len(meta.challenge) != 32:
        raise VerifyError("the challenge must be 32 bytes")
    group = proof.nonce // NONCES_PER_AES
    if group > 255:
        raise VerifyError(f"nonce group ({group}) out of bounds (max 255)")
    target = scale_pow_difficulty(params.pow_difficulty, meta.num_units)
    check = pow_check or _default_pow_check(params.randomx_mode)
    if not check(proof.pow, group, meta.challenge, target, meta.node_id):
        raise VerifyError("invalid proof of work")
    num_labels = meta.num_units * params.labels_per_unit
    bits = required_bits(num_labels)
    expected = expected_indices_bytes(bits, params.k2)
    if len(proof.indices) != expected:
        raise VerifyError(f"invalid number of indices (expected: {expected} bytes, got: {len(proof.indices)})")
    indices = decompress_indices(proof.indices, bits)[: params.k2]
    difficulty = proving_difficulty(params.k1, num_labels)
    msb, lsb = split_difficulty(difficulty)
    commitment = calc_commitment(meta.node_id, meta.commitment_atx_id)
    key_g = group_key(meta.challenge, group, proof.pow)
    key_n = nonce_key(meta.challenge, group, proof.pow, proof.nonce)
    j = proof.nonce % NONCES_PER_AES
    label_of = label_fn or default_label_fn()
    checked = []
    for position in select_positions(mode, params.k2, meta.node_id, meta.challenge):
        index = indices[position]
        label = bytes(label_of(commitment, index, params.scrypt_n))[:16]
        b = aes_block(key_g, label)[j]
        if b > msb:
            raise VerifyError(
                f"MSB value for index: {index} (position {position}) doesn't satisfy difficulty: {b} > {msb}",
                position=position, index=index,
            )  # fmt: skip
        if b == msb:
            v = int.from_bytes(aes_block(key_n, label)[:8], "little") & ((1 << 56) - 1)
            if v >= lsb:
                raise VerifyError(
                    f"LSB value for index: {index} (position {position}) doesn't satisfy difficulty: {v} >= {lsb}",
                    position=position, index=index,
                )  # fmt: skip
        checked.append(index)
    return checked


def verify_vrf_nonce(nonce: int, node_id: bytes, commitment_atx_id: bytes, num_labels: int, scrypt_n: int,
                     label_fn: LabelFn | None = None) -> bool:  # fmt: skip
    """Go `VerifyVRFNonce`: the full 32-byte label at `nonce` is below the target for `num_labels`."""
    from core.crypto.hashing import hash32 as calc_commitment

    label_of = label_fn or default_label_fn()
    value = bytes(label_of(calc_commitment(node_id, commitment_atx_id), nonce, scrypt_n))
    if len(value) < 32:
        raise VerifyError("the VRF nonce check needs the full 32-byte label")
    return value[:32] < vrf_difficulty(num_labels)


# ------------------------------------------------------------------------------------------------
# Stored data


@dataclasses.dataclass(frozen=True)
class BadLabel:
    file: int
    offset: int  # byte offset of the label in its file
    index: int  # global label index
    stored: bytes
    expected: bytes

    def describe(self) -> str:
        return f"invalid label in file postdata_{self.file}.bin at offset {self.offset} (label index {self.index})"


@dataclasses.dataclass(frozen=True)
class DataReport:
    files: int
    labels_checked: int
    bad: tuple[BadLabel, ...]
    nonce_ok: bool | None  # the metadata's VRF nonce, None when it has none


ComputeFn = Callable[[bytes, int, int, int], Any]  # (commitment, start, count, n) → (count, ≥16) uint8 array


def sample_indices(file_labels: int, fraction: float, rng: random.Random) -> list[int]:
    """Sorted offsets (in labels) of `fraction` percent of a file's labels, at least one."""
    count = min(file_labels, max(1, math.ceil(file_labels * fraction / 100)))
    if count == file_labels:
        return list(range(file_labels))
    return sorted(rng.sample(range(file_labels), count))


def verify_data(
    datadir: str | os.PathLike,
    fraction: float,
    scrypt_n: int,
    *,
    compute: ComputeFn | None = None,
    seed: int | None = None,
    check_nonce: bool = True,
    progress: Callable[[int, int, int], None] | None = None,
) -> DataReport:
    """Recompute `fraction` percent (0 < F ≤ 100) of the labels of every file and compare.

    Every file is sampled (at least one label each); all mismatches are reported with their file and
    byte offset.  The metadata's VRF nonce is re-checked too.  `progress(file, checked, total)`.
    """
    from core.post import metadata as md
    from core.crypto.hashing import hash32 as calc_commitment
    from core.post.layout import LABEL_SIZE, Layout, LayoutError, disk_state, file_path

    if not 0 < fraction <= 100:
        raise SmeshError(f"the fraction is a percentage in (0, 100], got {fraction}")
    meta = md.load(datadir)
    layout = Layout.of(meta.num_units, meta.labels_per_unit, meta.max_file_size)
    state = disk_state(datadir, layout)
    for f in state.files:
        if f.size < f.expected_bytes:
            raise LayoutError(
                f"postdata_{f.number}.bin holds {f.size} of {f.expected_bytes} bytes: init is incomplete"
            )
    if compute is None:
        from core.post import labels

        compute = labels.get_backend("cpu").compute
    commitment = calc_commitment(meta.node_id, meta.commitment_atx_id)
    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    samples = [sample_indices(layout.file_labels(k), fraction, rng) for k in range(layout.num_files)]
    total = sum(len(s) for s in samples)
    bad: list[BadLabel] = []
    done = 0
    for k, offsets in enumerate(samples):
        start, _ = layout.file_range(k)
        with open(file_path(datadir, k), "rb") as fh:
            for run_start, run_len in _runs(offsets):
                fh.seek(run_start * LABEL_SIZE)
                stored = fh.read(run_len * LABEL_SIZE)
                expected = compute(commitment, start + run_start, run_len, scrypt_n)
                for i in range(run_len):
                    want = bytes(expected[i][:LABEL_SIZE])
                    got = stored[i * LABEL_SIZE : (i + 1) * LABEL_SIZE]
                    if got != want:
                        off = (run_start + i) * LABEL_SIZE
                        bad.append(BadLabel(k, off, start + run_start + i, got, want))
                done += run_len
                if progress is not None:
                    progress(k, done, total)
    nonce_ok = None
    if check_nonce and meta.nonce is not None:
        value = bytes(compute(commitment, meta.nonce, 1, scrypt_n)[0])
        nonce_ok = len(value) >= 32 and value[:32] < vrf_difficulty(meta.num_labels)
    return DataReport(layout.num_files, total, tuple(bad), nonce_ok)


def _runs(offsets: Sequence[int], max_run: int = 4096) -> list[tuple[int, int]]:
    """Consecutive offsets grouped into (start, length) runs of at most `max_run`."""
    runs: list[tuple[int, int]] = []
    for off in offsets:
        if runs and runs[-1][0] + runs[-1][1] == off and runs[-1][1] < max_run:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((off, 1))
    return runs
