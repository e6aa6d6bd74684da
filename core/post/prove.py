"""Proving: find a nonce with K2 good labels for a challenge (spec/post.md §2; post-rs `prove.rs`).

Per nonce group g (16 nonces) the group key K_g = BLAKE3(challenge ‖ LE32(g) ‖ LE64(pow_g))[:16]
encrypts the labels with one AES-128-ECB call per cache-sized chunk (`cryptography`, `update_into`).
Byte j of label i's ciphertext decides nonce 16g+j: below the difficulty's top byte `msb` → good;
equal → encrypt the label again under the nonce key K_n and compare LE56 of its first 8 bytes with
`lsb`.  A numba kernel finds the rare bytes ≤ msb (an exact SWAR lane test, then only the flagged
labels); the second AES runs right there with AES-NI where the CPU has it, else the "== msb" labels
of a batch are gathered per nonce and re-encrypted with one `cryptography` call per nonce.

Results are deterministic and equal to post-rs run on one thread: of the nonces whose good-index list
reaches K2, the winner is the one post-rs would reach first (chunk of 8 labels, then nonce group,
then label, then nonce), and its indices are its first K2 good labels in index order.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import blake3
import numpy as np

from core.errors import InvalidInput, SmeshError
from core.post.compression import compress_indices, required_bits
from core.post.difficulty import proving_difficulty, scale_pow_difficulty, split_difficulty
from core.types.atx import PostV1  # the proof as ATXs carry it

NONCES_PER_AES = 16
LABEL_SIZE = 16
MAX_NONCE_GROUPS = 256  # the group is one byte of the k2pow input
BATCH_BYTES = 4 << 20  # labels read and scanned per batch (post-rs reads 1 MiB)
SUB_CHUNK = 256 << 10  # AES output scanned while it is still in cache


class ProveError(SmeshError):
    """No proof could be made (stopped, out of nonces, bad data)."""


# ------------------------------------------------------------------------------------------------
# Wire and JSON forms


def _b64(value: object, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what} is not valid base64") from None
    if size is not None and len(raw) != size:
        raise InvalidInput(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


def _uint(value: object, what: str, bits: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise InvalidInput(f"{what} must be an unsigned {bits}-bit integer, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Proof:
    """post-rs `Proof {nonce: u32, indices: bytes, pow: u64}`."""

    nonce: int
    indices: bytes
    pow: int

    def to_json(self) -> dict[str, Any]:
        """post-rs serde form: indices as standard base64."""
        return {"nonce": self.nonce, "indices": base64.b64encode(self.indices).decode(), "pow": self.pow}

    @classmethod
    def from_json(cls, data: object) -> Proof:
        if not isinstance(data, dict):
            raise InvalidInput("a proof must be a JSON object with nonce, indices and pow")
        for key in ("nonce", "indices", "pow"):
            if key not in data:
                raise InvalidInput(f"the proof lacks {key!r}")
        return cls(_uint(data["nonce"], "nonce", 32), _b64(data["indices"], "indices"), _uint(data["pow"], "pow", 64))

    def encode(self) -> bytes:
        return PostV1(self.nonce, self.indices, self.pow).encode()

    @classmethod
    def decode(cls, data: bytes) -> Proof:
        wire = PostV1.decode(data)
        return cls(wire.nonce, wire.indices, wire.pow)


@dataclasses.dataclass(frozen=True)
class ProofMetadata:
    """What a verifier needs besides the proof (post-rs `ProofMetadata`, Go adds LabelsPerUnit)."""

    node_id: bytes
    commitment_atx_id: bytes
    challenge: bytes
    num_units: int
    labels_per_unit: int

    def to_json(self) -> dict[str, Any]:
        return {
            "node_id": base64.b64encode(self.node_id).decode(),
            "commitment_atx_id": base64.b64encode(self.commitment_atx_id).decode(),
            "challenge": base64.b64encode(self.challenge).decode(),
            "num_units": self.num_units,
            "labels_per_unit": self.labels_per_unit,
        }

    @classmethod
    def from_json(cls, data: object, labels_per_unit: int | None = None) -> ProofMetadata:
        if not isinstance(data, dict):
            raise InvalidInput("proof metadata must be a JSON object")
        lpu = data.get("labels_per_unit", labels_per_unit)
        if lpu is None:
            raise InvalidInput("proof metadata lacks labels_per_unit (give it or a preset)")
        for key in ("node_id", "commitment_atx_id", "challenge", "num_units"):
            if key not in data:
                raise InvalidInput(f"proof metadata lacks {key!r}")
        return cls(
            _b64(data["node_id"], "node_id", 32),
            _b64(data["commitment_atx_id"], "commitment_atx_id", 32),
            _b64(data["challenge"], "challenge", 32),
            _uint(data["num_units"], "num_units", 32),
            _uint(lpu, "labels_per_unit", 64),
        )


# ------------------------------------------------------------------------------------------------
# Keys


def group_key(challenge: bytes, nonce_group: int, pow_value: int) -> bytes:
    """K_g = BLAKE3(challenge ‖ LE32(g) ‖ LE64(pow))[:16]."""
    return blake3.blake3(challenge + nonce_group.to_bytes(4, "little") + pow_value.to_bytes(8, "little")).digest()[:16]


def nonce_key(challenge: bytes, nonce_group: int, pow_value: int, nonce: int) -> bytes:
    """K_n = BLAKE3(challenge ‖ LE32(g) ‖ LE64(pow) ‖ LE32(n))[:16] (post-rs `AesCipher::new_lazy`)."""
    data = challenge + nonce_group.to_bytes(4, "little") + pow_value.to_bytes(8, "little") + nonce.to_bytes(4, "little")
    return blake3.blake3(data).digest()[:16]


def _ecb(key: bytes):  # noqa: ANN202 - a cryptography encryptor context
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(key), modes.ECB()).encryptor()


def aes_block(key: bytes, block: bytes) -> bytes:
    """One AES-128 block (verification of single labels)."""
    return _ecb(key).update(block)


def label_is_good(label: bytes, challenge: bytes, nonce: int, pow_value: int, difficulty: int) -> tuple[bool, str]:
    """The §2.3 test of one 16-byte label for one nonce: (good?, reason if not)."""
    msb, lsb = split_difficulty(difficulty)
    group = nonce // NONCES_PER_AES
    c = aes_block(group_key(challenge, group, pow_value), label)
    b = c[nonce % NONCES_PER_AES]
    if b < msb:
        return True, ""
    if b > msb:
        return False, f"MSB value {b} > {msb}"
    c2 = aes_block(nonce_key(challenge, group, pow_value, nonce), label)
    v = int.from_bytes(c2[:8], "little") & ((1 << 56) - 1)
    if v < lsb:
        return True, ""
    return False, f"LSB value {v} >= {lsb}"


# ------------------------------------------------------------------------------------------------
# Compiled kernels (numba, compiled on first use and cached on disk)


# de Bruijn lookup for the position of a lone set bit in a u64: _BIT_POS[(bit · C) >> 58]
_DEBRUIJN = 0x03F79D71B4CB0A89
_BIT_POS = np.zeros(64, dtype=np.int64)
for _b in range(64):
    _BIT_POS[(((1 << _b) * _DEBRUIJN) & ((1 << 64) - 1)) >> 58] = _b
del _b


ORD_BITS = 12  # hits are packed as label << 12 | nonce ordinal (at most 256 groups · 16 nonces)


def _classify_py(  # noqa: ANN201 - numba kernel, types come from the call
    plain, out, n_labels, label_base, msb, ordinal_base, flags, words_idx, hits, lazy_bytes, counts  # noqa: ANN001
):
    """Append the ciphertext bytes ≤ msb of one nonce group over `n_labels` labels as packed hits.

    Byte j of label i (ciphertext in `out`) below msb is good for nonce ordinal_base+j: appended to
    hits row 0; equal to msb, the nonce key decides: appended to row 1 ("lazy") with a copy of the
    plaintext label in `lazy_bytes` (taken now, while the chunk is in cache).  Entries are
    (label_base+i) << ORD_BITS | ordinal; counts holds both fill levels.  All writes are sequential.
    Returns False when a row is full (the caller grows it and redoes the batch).
    """
    src = plain.view(np.uint64)
    lb = lazy_bytes.view(np.uint64)
    cap = hits.shape[1]
    ng = counts[0]
    nl = counts[1]
    n_words = (n_labels + 7) // 8
    for i in range(n_labels, 8 * n_words):
        flags[i] = 0
    words = out.view(np.uint64)
    highs = np.uint64(0x8080808080808080)
    low7 = np.uint64(0x7F7F7F7F7F7F7F7F)
    if msb < 128:
        # exact per-lane test: (lane & 0x7f) + (127 − msb) sets the lane's top bit iff (lane & 0x7f) > msb,
        # or-ing the lane covers lanes ≥ 128; the complement's top bits mark exactly the lanes ≤ msb
        add = np.uint64(0x0101010101010101) * np.uint64(127 - msb)
        for i in range(n_labels):
            x0 = words[2 * i]
            x1 = words[2 * i + 1]
            t0 = ~(((x0 & low7) + add) | x0)
            t1 = ~(((x1 & low7) + add) | x1)
            flags[i] = ((t0 | t1) & highs) != 0
    else:
        add = np.uint64(0)
        for i in range(n_labels):
            flags[i] = 1
    # branch-free compaction of the flagged 8-label words, then only their set flag bytes
    f64 = flags.view(np.uint64)
    nz = 0
    for w in range(n_words):
        words_idx[nz] = w
        nz += f64[w] != 0
    gather_bits = np.uint64(0x0102040810204080)  # lane top bits (after >> 7) → one byte
    for q in range(nz):
        w = words_idx[q]
        fm = f64[w]
        while fm != 0:
            fbit = fm & (~fm + np.uint64(1))
            fm ^= fbit
            i = 8 * w + (_BIT_POS[(fbit * np.uint64(_DEBRUIJN)) >> np.uint64(58)] >> 3)
            packed_label = (label_base + i) << ORD_BITS
            if msb < 128:
                x0 = words[2 * i]
                x1 = words[2 * i + 1]
                m0 = (~(((x0 & low7) + add) | x0) & highs) >> np.uint64(7)
                m1 = (~(((x1 & low7) + add) | x1) & highs) >> np.uint64(7)
                lanes = ((m0 * gather_bits) >> np.uint64(56)) | (((m1 * gather_bits) >> np.uint64(56)) << np.uint64(8))
            else:
                lanes = np.uint64(0xFFFF)
            while lanes != 0:
                bit = lanes & (~lanes + np.uint64(1))
                lanes ^= bit
                j = _BIT_POS[(bit * np.uint64(_DEBRUIJN)) >> np.uint64(58)]
                v = out[16 * i + j]
                if v < msb:
                    if ng >= cap:
                        return False
                    hits[0, ng] = packed_label | (ordinal_base + j)
                    ng += 1
                elif v == msb:
                    if nl >= cap:
                        return False
                    hits[1, nl] = packed_label | (ordinal_base + j)
                    lb[2 * nl] = src[2 * i]
                    lb[2 * nl + 1] = src[2 * i + 1]
                    nl += 1
    counts[0] = ng
    counts[1] = nl
    return True


def _gather_py(lazy, lazy_bytes, nl, n_ord, offsets, gathered, gathered_lbl):  # noqa: ANN001
    """Counting-sort the lazy hits and their labels by nonce ordinal (reads sequential, writes to one
    open cache line per nonce)."""
    mask = (1 << ORD_BITS) - 1
    for o in range(n_ord + 1):
        offsets[o] = 0
    for k in range(nl):
        offsets[(lazy[k] & mask) + 1] += 1
    for o in range(n_ord):
        offsets[o + 1] += offsets[o]
    fill = offsets[:n_ord].copy()
    src = lazy_bytes.view(np.uint64)
    dst = gathered.view(np.uint64)
    for k in range(nl):
        packed = lazy[k]
        o = packed & mask
        d = fill[o]
        fill[o] = d + 1
        gathered_lbl[d] = packed >> ORD_BITS
        dst[2 * d] = src[2 * k]
        dst[2 * d + 1] = src[2 * k + 1]


def _check_lsb_py(out2, nl, lsb, gathered_lbl, offsets, n_ord, res):  # noqa: ANN001
    """Lazy hits whose second ciphertext has LE56(first 8 bytes) < lsb, appended to res (packed)."""
    mask = np.uint64((1 << 56) - 1)
    words = out2.view(np.uint64)
    n = 0
    o = 0
    for k in range(nl):
        while offsets[o + 1] <= k:
            o += 1
        if (words[2 * k] & mask) < lsb:
            res[n] = (gathered_lbl[k] << ORD_BITS) | o
            n += 1
    return n


# -- AES-NI for the "== msb" labels: the second AES right where the hit is found -------------------


def _sbox() -> list[int]:
    """The AES S-box, computed (multiplicative inverse in GF(2^8), then the affine map)."""
    def mul(a: int, b: int) -> int:
        r = 0
        while b:
            if b & 1:
                r ^= a
            a = ((a << 1) ^ 0x11B) if a & 0x80 else a << 1
            b >>= 1
        return r

    inv = [0] * 256
    for a in range(1, 256):
        for b in range(1, 256):
            if mul(a, b) == 1:
                inv[a] = b
                break
    box = []
    for a in range(256):
        x = inv[a]
        y = x
        for shift in range(1, 5):
            y ^= ((x << shift) | (x >> (8 - shift))) & 0xFF
        box.append(y ^ 0x63)
    return box


_SBOX: list[int] | None = None


def aes128_round_keys(key: bytes) -> np.ndarray:
    """The 11 AES-128 round keys as 22 little-endian u64 (what AES-NI's registers hold)."""
    global _SBOX
    if _SBOX is None:
        _SBOX = _sbox()
    w = [list(key[4 * i : 4 * i + 4]) for i in range(4)]
    rcon = 1
    for i in range(4, 44):
        t = list(w[i - 1])
        if i % 4 == 0:
            t = [_SBOX[b] for b in t[1:] + t[:1]]
            t[0] ^= rcon
            rcon = ((rcon << 1) ^ 0x11B) if rcon & 0x80 else rcon << 1
        w.append([a ^ b for a, b in zip(w[i - 4], t)])
    return np.frombuffer(bytes(b for word in w for b in word), dtype="<u8").copy()


def _aes_lo_intrinsic():  # noqa: ANN202
    """An intrinsic `aes_lo(lo, hi, rk, base)`: AES-128 of the block (lo, hi) under the round keys
    rk[base : base+22], returning the low 8 bytes of the ciphertext as a u64 (llvm.x86.aesni.*)."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def aes_lo(typingctx, lo, hi, rk, base):
        sig = types.uint64(types.uint64, types.uint64, rk, types.intp)

        def codegen(context, builder, signature, args):
            lo_v, hi_v, rk_v, base_v = args
            v2 = ir.VectorType(ir.IntType(64), 2)
            data = context.make_array(signature.args[2])(context, builder, rk_v).data
            enc = cgutils.get_or_insert_function(builder.module, ir.FunctionType(v2, [v2, v2]), "llvm.x86.aesni.aesenc")
            last = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(v2, [v2, v2]), "llvm.x86.aesni.aesenclast"
            )

            def round_key(r):
                ptr = builder.gep(data, [builder.add(base_v, ir.Constant(base_v.type, 2 * r))])
                return builder.load(builder.bitcast(ptr, v2.as_pointer()), align=8)

            state = builder.insert_element(ir.Constant(v2, ir.Undefined), lo_v, ir.Constant(ir.IntType(32), 0))
            state = builder.insert_element(state, hi_v, ir.Constant(ir.IntType(32), 1))
            state = builder.xor(state, round_key(0))
            for r in range(1, 10):
                state = builder.call(enc, [state, round_key(r)])
            state = builder.call(last, [state, round_key(10)])
            return builder.extract_element(state, ir.Constant(ir.IntType(32), 0))

        return sig, codegen

    return aes_lo


def _classify_aesni_py(  # noqa: ANN201 - numba kernel, types come from the call
    plain, out, n_labels, label_base, msb, lsb, ordinal_base, flags, words_idx, good, counts, rks  # noqa: ANN001
):
    """`_classify_py` with the second AES done in place by AES-NI: only good (label, nonce) pairs are
    appended (packed, to `good`); `rks` holds 22 u64 round keys per nonce ordinal."""
    cap = good.shape[0]
    ng = counts[0]
    n_words = (n_labels + 7) // 8
    for i in range(n_labels, 8 * n_words):
        flags[i] = 0
    words = out.view(np.uint64)
    src = plain.view(np.uint64)
    highs = np.uint64(0x8080808080808080)
    low7 = np.uint64(0x7F7F7F7F7F7F7F7F)
    lsb_mask = np.uint64((1 << 56) - 1)
    if msb < 128:
        add = np.uint64(0x0101010101010101) * np.uint64(127 - msb)
        for i in range(n_labels):
            x0 = words[2 * i]
            x1 = words[2 * i + 1]
            t0 = ~(((x0 & low7) + add) | x0)
            t1 = ~(((x1 & low7) + add) | x1)
            flags[i] = ((t0 | t1) & highs) != 0
    else:
        add = np.uint64(0)
        for i in range(n_labels):
            flags[i] = 1
    f64 = flags.view(np.uint64)
    nz = 0
    for w in range(n_words):
        words_idx[nz] = w
        nz += f64[w] != 0
    gather_bits = np.uint64(0x0102040810204080)
    for q in range(nz):
        w = words_idx[q]
        fm = f64[w]
        while fm != 0:
            fbit = fm & (~fm + np.uint64(1))
            fm ^= fbit
            i = 8 * w + (_BIT_POS[(fbit * np.uint64(_DEBRUIJN)) >> np.uint64(58)] >> 3)
            packed_label = (label_base + i) << ORD_BITS
            if msb < 128:
                x0 = words[2 * i]
                x1 = words[2 * i + 1]
                m0 = (~(((x0 & low7) + add) | x0) & highs) >> np.uint64(7)
                m1 = (~(((x1 & low7) + add) | x1) & highs) >> np.uint64(7)
                lanes = ((m0 * gather_bits) >> np.uint64(56)) | (((m1 * gather_bits) >> np.uint64(56)) << np.uint64(8))
            else:
                lanes = np.uint64(0xFFFF)
            while lanes != 0:
                bit = lanes & (~lanes + np.uint64(1))
                lanes ^= bit
                j = _BIT_POS[(bit * np.uint64(_DEBRUIJN)) >> np.uint64(58)]
                v = out[16 * i + j]
                if v > msb:
                    continue
                o = ordinal_base + j
                if v == msb and (_aes_lo(src[2 * i], src[2 * i + 1], rks, 22 * o) & lsb_mask) >= lsb:  # noqa: F821 - injected by _aes_kernels
                    continue
                if ng >= cap:
                    return False
                good[ng] = packed_label | o
                ng += 1
    counts[0] = ng
    return True


_AESNI: bool | None = None


def aesni_available() -> bool:
    """Whether this CPU runs the AES-NI kernel (x86 with AES); checked once against `cryptography`."""
    global _AESNI
    if _AESNI is None:
        _AESNI = False
        try:
            import llvmlite.binding as ll

            if ll.get_host_cpu_features().get("aes") and os.environ.get("SMESH_NO_AESNI") != "1":
                _AESNI = _aesni_self_test()
        except Exception:  # noqa: BLE001 - any failure means: use the portable path
            _AESNI = False
    return _AESNI


def _aes_probe_py(lo, hi, rk):  # noqa: ANN001, ANN202
    return _aes_lo(lo, hi, rk, 0)  # noqa: F821 - injected by _aes_kernels


def _aesni_self_test() -> bool:
    probe = _aes_kernels()[1]
    key = bytes(range(16))
    block = bytes(range(16, 32))
    lo, hi = np.frombuffer(block, dtype="<u8")
    got = int(probe(np.uint64(lo), np.uint64(hi), aes128_round_keys(key)))
    return got == int.from_bytes(aes_block(key, block)[:8], "little")


_AES_KERNELS: tuple | None = None


def _aes_kernels() -> tuple:
    global _AES_KERNELS
    with _KERNEL_LOCK:
        if _AES_KERNELS is None:
            from numba import njit

            globals()["_aes_lo"] = _aes_lo_intrinsic()
            _AES_KERNELS = (
                njit(cache=True, nogil=True)(_classify_aesni_py),
                njit(cache=True, nogil=True)(_aes_probe_py),
            )
        return _AES_KERNELS


_KERNELS: tuple | None = None
_KERNEL_LOCK = threading.Lock()


def _kernels() -> tuple:
    global _KERNELS
    with _KERNEL_LOCK:
        if _KERNELS is None:
            from numba import njit

            _KERNELS = (
                njit(cache=True, nogil=True)(_classify_py),
                njit(cache=True, nogil=True)(_gather_py),
                njit(cache=True, nogil=True)(_check_lsb_py),
            )
        return _KERNELS


# ------------------------------------------------------------------------------------------------
# The batch prover


class BatchProver:
    """Good (index, nonce) pairs of label batches for a set of nonce groups with known pows."""

    def __init__(
        self,
        challenge: bytes,
        groups: dict[int, int],
        difficulty: int,
        batch_bytes: int = BATCH_BYTES,
        use_aesni: bool | None = None,
    ):
        if len(challenge) != 32:
            raise InvalidInput("the challenge must be 32 bytes")
        if not groups:
            raise InvalidInput("at least one nonce group is needed")
        for g in groups:
            if not 0 <= g < MAX_NONCE_GROUPS:
                raise InvalidInput(f"nonce group {g} is out of bounds (max {MAX_NONCE_GROUPS - 1})")
        self.challenge = challenge
        self.groups = sorted(groups)
        self.pows = dict(groups)
        self.difficulty = difficulty
        self.msb, self.lsb = split_difficulty(difficulty)
        self._group_enc = [_ecb(group_key(challenge, g, groups[g])) for g in self.groups]
        self._nonce_enc: dict[int, Any] = {}
        self.n_ord = len(self.groups) * NONCES_PER_AES
        self._capacity = 0
        self.aesni = aesni_available() if use_aesni is None else use_aesni
        if self.aesni:
            self._rks = np.concatenate([aes128_round_keys(self._nonce_key(o)) for o in range(self.n_ord)])
        self._ensure(max(LABEL_SIZE, batch_bytes))

    def nonce_of(self, ordinal: int) -> int:
        return self.groups[ordinal // NONCES_PER_AES] * NONCES_PER_AES + ordinal % NONCES_PER_AES

    def group_ordinal(self, nonce: int) -> int:
        return self.groups.index(nonce // NONCES_PER_AES)

    def _ensure(self, nbytes: int) -> None:
        if nbytes <= self._capacity:
            return
        n_labels = nbytes // LABEL_SIZE
        self._capacity = nbytes
        self._out = np.empty(SUB_CHUNK + 16, dtype=np.uint8)
        self._flags = np.zeros(SUB_CHUNK // LABEL_SIZE + 8, dtype=np.uint8)
        self._words = np.empty(SUB_CHUNK // LABEL_SIZE // 8 + 1, dtype=np.int64)
        self._counts = np.zeros(2, dtype=np.int64)
        self._offsets = np.zeros(self.n_ord + 1, dtype=np.int64)
        # hits per (nonce, label) are ≤ msb with probability (msb+1)/256: room for twice that plus slack
        expected = n_labels * self.n_ord * (self.msb + 1) // 256
        self._grow_hits(min(2 * expected + 4096, n_labels * self.n_ord))

    def _grow_hits(self, cap: int) -> None:
        self._hits = np.empty((2, cap), dtype=np.int64)
        self._lazy_bytes = np.empty(cap * 16, dtype=np.uint8)

    def _nonce_key(self, ordinal: int) -> bytes:
        nonce = self.nonce_of(ordinal)
        group = nonce // NONCES_PER_AES
        return nonce_key(self.challenge, group, self.pows[group], nonce)

    def _nonce_cipher(self, ordinal: int):  # noqa: ANN202
        enc = self._nonce_enc.get(ordinal)
        if enc is None:
            enc = self._nonce_enc[ordinal] = _ecb(self._nonce_key(ordinal))
        return enc

    def process(self, data: bytes | bytearray | memoryview, first_index: int) -> dict[int, Any]:
        """{nonce ordinal: sorted global indices of good labels} for one batch of whole labels.

        AES and the scan run over cache-sized sub-chunks with every group before moving on; the
        "== msb" labels of the whole batch are then gathered per nonce and re-encrypted with one AES
        call per nonce.
        """
        buf = np.frombuffer(data, dtype=np.uint8)
        if buf.size % LABEL_SIZE:
            raise ProveError("batch is not a whole number of labels")
        n_labels = buf.size // LABEL_SIZE
        if n_labels == 0:
            return {}
        self._ensure(buf.size)
        plain = buf if buf.ctypes.data % 8 == 0 else buf.copy()  # u64 views need 8-byte alignment
        if self.aesni:
            return self._process_aesni(plain, n_labels, first_index)
        classify, gather, check_lsb = _kernels()
        counts = self._counts
        while True:
            counts[:] = 0
            ok = True
            for start in range(0, buf.size, SUB_CHUNK):
                chunk = buf[start : start + SUB_CHUNK]
                out = self._out[: chunk.size]
                base = start // LABEL_SIZE
                n = chunk.size // LABEL_SIZE
                for gi, enc in enumerate(self._group_enc):
                    enc.update_into(chunk, self._out)
                    ok = classify(
                        plain[start : start + chunk.size], out, n, base, self.msb, gi * NONCES_PER_AES,
                        self._flags, self._words, self._hits, self._lazy_bytes, counts,
                    )  # fmt: skip
                    if not ok:
                        break
                if not ok:
                    break
            if ok:
                break
            self._grow_hits(min(2 * self._hits.shape[1], n_labels * self.n_ord))
        ng, nl = int(counts[0]), int(counts[1])
        parts = [self._hits[0, :ng]]
        if nl:
            offsets = self._offsets
            gathered = np.empty(nl * 16, dtype=np.uint8)
            gathered_lbl = np.empty(nl, dtype=np.int64)
            gather(self._hits[1], self._lazy_bytes, nl, self.n_ord, offsets, gathered, gathered_lbl)
            out2 = np.empty(nl * 16 + 16, dtype=np.uint8)
            bounds = offsets.tolist()
            for o in range(self.n_ord):
                a, b = bounds[o], bounds[o + 1]
                if b > a:
                    self._nonce_cipher(o).update_into(gathered[16 * a : 16 * b], out2[16 * a :])
            res = np.empty(nl, dtype=np.int64)
            n = check_lsb(out2, nl, np.uint64(self.lsb), gathered_lbl, offsets, self.n_ord, res)
            parts.append(res[:n])
        return self._split(np.concatenate(parts), first_index)

    def _process_aesni(self, plain: np.ndarray, n_labels: int, first_index: int) -> dict[int, Any]:
        classify = _aes_kernels()[0]
        counts = self._counts
        while True:
            counts[:] = 0
            ok = True
            for start in range(0, plain.size, SUB_CHUNK):
                chunk = plain[start : start + SUB_CHUNK]
                out = self._out[: chunk.size]
                base = start // LABEL_SIZE
                n = chunk.size // LABEL_SIZE
                for gi, enc in enumerate(self._group_enc):
                    enc.update_into(chunk, self._out)
                    ok = classify(
                        chunk, out, n, base, self.msb, np.uint64(self.lsb), gi * NONCES_PER_AES,
                        self._flags, self._words, self._hits[0], counts, self._rks,
                    )  # fmt: skip
                    if not ok:
                        break
                if not ok:
                    break
            if ok:
                break
            self._grow_hits(min(2 * self._hits.shape[1], n_labels * self.n_ord))
        return self._split(self._hits[0, : int(counts[0])], first_index)

    @staticmethod
    def _split(packed: np.ndarray, first_index: int) -> dict[int, Any]:
        if packed.size == 0:
            return {}
        mask = (1 << ORD_BITS) - 1
        ordn = packed & mask
        lbl = packed >> ORD_BITS
        order = np.lexsort((lbl, ordn))
        lbl = lbl[order] + first_index
        ordn = ordn[order]
        cuts = np.flatnonzero(np.diff(ordn)) + 1
        return {int(ordn[s]): part for s, part in zip(np.concatenate(([0], cuts)), np.split(lbl, cuts))}


class K2Collector:
    """Accumulates good indices per nonce over batches in index order and picks post-rs's winner."""

    def __init__(self, prover: BatchProver, k2: int) -> None:
        self.prover = prover
        self.k2 = k2
        self.found: dict[int, list] = {}
        self.counts: dict[int, int] = {}

    def add(self, result: dict[int, Any]) -> tuple[int, list[int]] | None:
        complete = []
        for ordinal, indices in result.items():
            before = self.counts.get(ordinal, 0)
            if before >= self.k2:
                continue
            self.found.setdefault(ordinal, []).append(indices)
            self.counts[ordinal] = before + len(indices)
            if self.counts[ordinal] >= self.k2:
                complete.append(ordinal)
        if not complete:
            return None

        def reach_key(ordinal: int) -> tuple[int, int, int, int]:
            idx = int(np.concatenate(self.found[ordinal])[self.k2 - 1])
            return idx // 8, ordinal // NONCES_PER_AES, idx % 8, ordinal % NONCES_PER_AES

        winner = min(complete, key=reach_key)
        indices = np.concatenate(self.found[winner])[: self.k2]
        return self.prover.nonce_of(winner), [int(i) for i in indices]


def prove_over(
    batches: Iterable[tuple[int, bytes]],
    challenge: bytes,
    groups: dict[int, int],
    difficulty: int,
    k2: int,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[int, list[int]] | None:
    """Scan (first index, label bytes) batches for nonces of `groups` (group → pow); (nonce, indices)."""
    prover = BatchProver(challenge, groups, difficulty)
    collector = K2Collector(prover, k2)
    for first, data in batches:
        hit = collector.add(prover.process(data, first))
        if on_batch is not None:
            on_batch(first, len(data))
        if hit is not None:
            return hit
    return None


def prove_labels(
    data: bytes, challenge: bytes, k1: int, k2: int, nonces: range, pows: dict[int, int] | Callable[[int], int]
) -> tuple[int, list[int]] | None:
    """Prove over labels held in memory (global indices from 0): the unit of post-rs `proving_vector`."""
    num_labels = len(data) // LABEL_SIZE
    groups = _groups_of(nonces)
    pow_of = pows if callable(pows) else pows.__getitem__
    found = prove_over(
        _memory_batches(data), challenge, {g: pow_of(g) for g in groups}, proving_difficulty(k1, num_labels), k2
    )
    if found is not None and found[0] not in nonces:
        return None  # only nonces of the requested range count
    return found


def _memory_batches(data: bytes, batch_bytes: int = BATCH_BYTES) -> Iterator[tuple[int, bytes]]:
    view = memoryview(data)
    for start in range(0, len(data), batch_bytes):
        yield start // LABEL_SIZE, view[start : start + batch_bytes]


def _groups_of(nonces: range) -> list[int]:
    if nonces.start % NONCES_PER_AES or len(nonces) == 0 or len(nonces) % NONCES_PER_AES:
        raise InvalidInput("nonces must start at a multiple of 16 and count a positive multiple of 16")
    return list(range(nonces.start // NONCES_PER_AES, (nonces.stop + NONCES_PER_AES - 1) // NONCES_PER_AES))


# ------------------------------------------------------------------------------------------------
# Proving a data directory


@dataclasses.dataclass(frozen=True)
class ProveProgress:
    phase: str  # "pow" (k2pow for a nonce group) or "scan" (reading data)
    nonces: range
    position: int  # bytes of data read in this pass
    total: int  # bytes of data
    nonce_group: int | None = None


@dataclasses.dataclass(frozen=True)
class ProveResult:
    proof: Proof
    metadata: ProofMetadata
    indices: tuple[int, ...]
    passes: int


def generate_proof(
    datadir: str | os.PathLike,
    challenge: bytes,
    *,
    k1: int,
    k2: int,
    pow_difficulty: bytes,
    nonces: int = 16,
    threads: int = 1,
    pow_prover: Any = None,
    randomx_mode: str = "fast",
    progress: Callable[[ProveProgress], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> ProveResult:
    """Prove the data in `datadir` for `challenge`: passes of `nonces` nonces until one has K2 labels."""
    from core.post import metadata as md
    from core.post.k2pow import RandomXPowProver
    from core.post.layout import Layout, disk_state, iter_batches
    from core.post.params import check_nonces

    if len(challenge) != 32:
        raise InvalidInput("the challenge must be 32 bytes")
    check_nonces(nonces)
    meta = md.load(datadir)
    layout = Layout.of(meta.num_units, meta.labels_per_unit, meta.max_file_size)
    state = disk_state(datadir, layout)
    if not state.complete:
        missing = [f.number for f in state.files if not f.complete]
        if missing:
            f = state.files[missing[0]]
            raise ProveError(
                f"init is incomplete: postdata_{f.number}.bin holds {f.size} of {f.expected_bytes} bytes "
                f"({len(missing)} file(s) incomplete)"
            )
        raise ProveError(
            f"unexpected data file {state.extra[0].name} beyond the {layout.num_files} files of the metadata"
        )
    num_labels = meta.num_labels
    difficulty = proving_difficulty(k1, num_labels)
    target = scale_pow_difficulty(pow_difficulty, meta.num_units)
    if pow_prover is None:
        pow_prover = RandomXPowProver(randomx_mode, threads=threads, stop=stop)
    total = layout.total_bytes
    start = 0
    passes = 0
    while True:
        passes += 1
        rng = range(start, start + nonces)
        groups = _groups_of(rng)
        if groups[-1] >= MAX_NONCE_GROUPS:
            raise ProveError(f"no proof found with nonces below {MAX_NONCE_GROUPS * NONCES_PER_AES}")
        pows = {}
        for g in groups:
            if stop is not None and stop():
                raise ProveError("proving was stopped")
            if progress is not None:
                progress(ProveProgress("pow", rng, 0, total, g))
            pows[g] = pow_prover.prove(g, challenge, target, meta.node_id)
        read = [0]

        def on_batch(_first: int, size: int, rng: range = rng) -> None:
            read[0] += size
            if progress is not None:
                progress(ProveProgress("scan", rng, read[0], total))
            if stop is not None and stop():
                raise ProveError("proving was stopped")

        if threads > 1:
            found = _prove_parallel(datadir, layout, challenge, pows, difficulty, k2, threads, on_batch)
        else:
            found = prove_over(iter_batches(datadir, layout, BATCH_BYTES), challenge, pows, difficulty, k2, on_batch)
        if found is not None:
            nonce, indices = found
            proof = Proof(nonce, compress_indices(indices, required_bits(num_labels)), pows[nonce // NONCES_PER_AES])
            pm = ProofMetadata(meta.node_id, meta.commitment_atx_id, challenge, meta.num_units, meta.labels_per_unit)
            return ProveResult(proof, pm, tuple(indices), passes)
        start += nonces


# -- several processes: batches are read and scanned by workers, merged in order by the parent --

_WORKER: BatchProver | None = None


def _worker_init(challenge: bytes, pows: dict[int, int], difficulty: int) -> None:
    global _WORKER
    _WORKER = BatchProver(challenge, pows, difficulty)
    _kernels()


def _worker_batch(path: str, offset: int, size: int, first_index: int) -> dict[int, Any]:
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read(size)
    assert _WORKER is not None
    return _WORKER.process(data, first_index)


def _prove_parallel(datadir, layout, challenge, pows, difficulty, k2, threads, on_batch):  # noqa: ANN001, ANN202
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    from core.post.layout import file_path

    tasks = []
    for k in range(layout.num_files):
        start, _ = layout.file_range(k)
        size = layout.file_bytes(k)
        for off in range(0, size, BATCH_BYTES):
            n = min(BATCH_BYTES, size - off)
            tasks.append((str(file_path(datadir, k)), off, n, start + off // LABEL_SIZE))
    collector = K2Collector(BatchProver(challenge, pows, difficulty), k2)
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        threads, mp_context=ctx, initializer=_worker_init, initargs=(challenge, pows, difficulty)
    )
    try:
        pending: deque = deque()
        it = iter(tasks)
        for task in it:
            pending.append((task, pool.submit(_worker_batch, *task)))
            if len(pending) >= 2 * threads:
                break
        while pending:
            task, fut = pending.popleft()
            hit = collector.add(fut.result())
            on_batch(task[3], task[2])
            if hit is not None:
                return hit
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(_worker_batch, *nxt)))
        return None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
