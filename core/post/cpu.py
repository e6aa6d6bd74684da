"""numba CPU label kernel: scrypt-jane (Keccak-512 + ChaCha20/8), r = p = 1, 72-byte password.

spec/post.md §1.2, §4.2.  The plain-Python reference is `core.post.scrypt_jane`; tests compare the two on
random commitments, indices and N.

Layout, and why:
- Labels are processed in groups of `LANES` (8).  The ROMix state of a group is a word-major tile
  `X[w * LANES + l]` (word w of lane l), so the ChaCha loop over lanes is a straight-line body over
  contiguous u32 vectors that LLVM's loop vectorizer turns into 8-wide SIMD (vpaddd/vpxor/vprold).
  For that the body must be free of inner loops (the ChaCha rounds are written out), and LLVM must see
  without run-time alias checks that an iteration's stores miss the other iterations' loads (it will
  not add such checks to a loop of only 8 iterations): so both tiles of a group (state, next state)
  live in ONE array at constant offsets, and each direction (X→Y, Y→X) is its own compiled loop.
- 8 lanes rather than 16: each in-flight label needs its 1 MiB scratchpad (N=8192), and the smaller
  working set per thread measured 10-20 % faster on the build machine.  For the same reason two
  interleaved groups with software prefetch (to hide the phase-2 lookup latency) were slower.
- The scratchpad keeps each lane's 128-byte entry contiguous: `V[(k * LANES + l) * 32 + w]`, so a
  phase-2 lookup touches 2 cache lines per lane.  Moving entries between this layout and the tile is an
  8×8 u32 transpose with LLVM shuffles (`_transpose8`, `_gather_xor_transpose8`, numba intrinsics),
  because numba has no vector type and a scalar transpose costs about as much as the ChaCha work.
  Phase 2 XORs the looked-up entries straight into the state tile while transposing.
- Threads (prange) each own one scratchpad (N · LANES · 128 bytes, 2 MiB-aligned) and take every
  nth group.
- Keccak: the HMAC ipad/opad states of a label are absorbed once and reused for the three PBKDF2
  blocks (two before ROMix, one after).  The key is the password itself, so the pad states depend on
  the index and cannot be shared across labels; what is shared per commitment is the key lanes.
  (Keccak is ~1 % of the time; it stays a simple scalar loop.)
"""

from __future__ import annotations

import threading

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

LANES = 8  # labels per SIMD group; see the module docstring before changing
WORDS = 32  # u32 words of a 128-byte scrypt block for r = 1
TILE = WORDS * LANES  # u32 words of one tile: one 128-byte block per lane, word-major
X_AT, Y_AT = 0, TILE  # the two tiles of a group's buffer: state and next state
TILES = 2
assert LANES % 8 == 0, "the tile transposes work on 8×8 blocks"

_u32 = np.uint32
_u64 = np.uint64

# --- LLVM helpers ------------------------------------------------------------------------------------


def _shuffle_transpose8(builder: ir.IRBuilder, rows: list) -> list:
    """Transpose 8 <8 x i32> rows with shufflevector (3 stages of 8)."""
    i32 = ir.IntType(32)

    def shuf(a, b, mask):
        return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(i32, 8), mask))

    t = []
    for j in range(0, 8, 2):
        a, b = rows[j], rows[j + 1]
        t.append(shuf(a, b, [0, 8, 1, 9, 4, 12, 5, 13]))
        t.append(shuf(a, b, [2, 10, 3, 11, 6, 14, 7, 15]))
    u = []
    for j in (0, 4):
        a0, a1, b0, b1 = t[j], t[j + 1], t[j + 2], t[j + 3]
        u.append(shuf(a0, b0, [0, 1, 8, 9, 4, 5, 12, 13]))
        u.append(shuf(a0, b0, [2, 3, 10, 11, 6, 7, 14, 15]))
        u.append(shuf(a1, b1, [0, 1, 8, 9, 4, 5, 12, 13]))
        u.append(shuf(a1, b1, [2, 3, 10, 11, 6, 7, 14, 15]))
    out = [None] * 8
    for c in range(4):
        out[c] = shuf(u[c], u[4 + c], [0, 1, 2, 3, 8, 9, 10, 11])
        out[c + 4] = shuf(u[c], u[4 + c], [4, 5, 6, 7, 12, 13, 14, 15])
    return out


def _row_ptr(builder, context, ary_type, ary, offset):
    data = context.make_array(ary_type)(context, builder, ary).data
    vptr = ir.VectorType(ir.IntType(32), 8).as_pointer()
    return builder.bitcast(builder.gep(data, [offset]), vptr)


@intrinsic
def _transpose8(typingctx, src, soff, sstride, dst, doff, dstride):
    """dst[doff + i*dstride + j] = src[soff + j*sstride + i] for i, j < 8 (u32 arrays, no bounds check)."""
    sig = types.void(src, types.intp, types.intp, dst, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        src_v, soff_v, sstride_v, dst_v, doff_v, dstride_v = args
        rows = []
        for j in range(8):
            off = builder.add(soff_v, builder.mul(sstride_v, ir.Constant(soff_v.type, j)))
            rows.append(builder.load(_row_ptr(builder, context, signature.args[0], src_v, off), align=4))
        for i, row in enumerate(_shuffle_transpose8(builder, rows)):
            off = builder.add(doff_v, builder.mul(dstride_v, ir.Constant(doff_v.type, i)))
            builder.store(row, _row_ptr(builder, context, signature.args[3], dst_v, off), align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _gather_xor_transpose8(typingctx, src, offs, first, add, dst, doff, dstride):
    """dst[doff + i*dstride + j] ^= src[offs[first + j] + add + i] for i, j < 8 (rows from 8 offsets)."""
    sig = types.void(src, offs, types.intp, types.intp, dst, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        src_v, offs_v, first_v, add_v, dst_v, doff_v, dstride_v = args
        offs_data = context.make_array(signature.args[1])(context, builder, offs_v).data
        rows = []
        for j in range(8):
            k = builder.add(first_v, ir.Constant(first_v.type, j))
            off = builder.add(builder.load(builder.gep(offs_data, [k])), add_v)
            rows.append(builder.load(_row_ptr(builder, context, signature.args[0], src_v, off), align=4))
        for i, row in enumerate(_shuffle_transpose8(builder, rows)):
            off = builder.add(doff_v, builder.mul(dstride_v, ir.Constant(doff_v.type, i)))
            ptr = _row_ptr(builder, context, signature.args[4], dst_v, off)
            builder.store(builder.xor(builder.load(ptr, align=4), row), ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


# --- ChaCha20/8 over a tile of lanes -----------------------------------------------------------------


_R7, _R8, _R12, _R16, _R20, _R24, _R25 = (np.uint32(v) for v in (7, 8, 12, 16, 20, 24, 25))


@njit(inline="always")
def _chacha8(x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15):
    """ChaCha20/8 core plus the feed-forward add on 16 u32 words; returns the 16 new words.

    Written out in full (quarter-round a += b; d ^= a; d <<<= 16; c += d; b ^= c; b <<<= 12; then 8, 7):
    an inner loop would stop the lane loop around it from vectorizing, and numba-level inlining of a
    quarter-round helper 128 times makes compilation several times slower.
    """
    y0, y1, y2, y3, y4, y5, y6, y7 = x0, x1, x2, x3, x4, x5, x6, x7
    y8, y9, y10, y11, y12, y13, y14, y15 = x8, x9, x10, x11, x12, x13, x14, x15
    # double round 1: columns, then diagonals
    y0 = _u32(y0 + y4); y12 = _u32(y12 ^ y0); y12 = _u32((y12 << _R16) | (y12 >> _R16))
    y8 = _u32(y8 + y12); y4 = _u32(y4 ^ y8); y4 = _u32((y4 << _R12) | (y4 >> _R20))
    y0 = _u32(y0 + y4); y12 = _u32(y12 ^ y0); y12 = _u32((y12 << _R8) | (y12 >> _R24))
    y8 = _u32(y8 + y12); y4 = _u32(y4 ^ y8); y4 = _u32((y4 << _R7) | (y4 >> _R25))
    y1 = _u32(y1 + y5); y13 = _u32(y13 ^ y1); y13 = _u32((y13 << _R16) | (y13 >> _R16))
    y9 = _u32(y9 + y13); y5 = _u32(y5 ^ y9); y5 = _u32((y5 << _R12) | (y5 >> _R20))
    y1 = _u32(y1 + y5); y13 = _u32(y13 ^ y1); y13 = _u32((y13 << _R8) | (y13 >> _R24))
    y9 = _u32(y9 + y13); y5 = _u32(y5 ^ y9); y5 = _u32((y5 << _R7) | (y5 >> _R25))
    y2 = _u32(y2 + y6); y14 = _u32(y14 ^ y2); y14 = _u32((y14 << _R16) | (y14 >> _R16))
    y10 = _u32(y10 + y14); y6 = _u32(y6 ^ y10); y6 = _u32((y6 << _R12) | (y6 >> _R20))
    y2 = _u32(y2 + y6); y14 = _u32(y14 ^ y2); y14 = _u32((y14 << _R8) | (y14 >> _R24))
    y10 = _u32(y10 + y14); y6 = _u32(y6 ^ y10); y6 = _u32((y6 << _R7) | (y6 >> _R25))
    y3 = _u32(y3 + y7); y15 = _u32(y15 ^ y3); y15 = _u32((y15 << _R16) | (y15 >> _R16))
    y11 = _u32(y11 + y15); y7 = _u32(y7 ^ y11); y7 = _u32((y7 << _R12) | (y7 >> _R20))
    y3 = _u32(y3 + y7); y15 = _u32(y15 ^ y3); y15 = _u32((y15 << _R8) | (y15 >> _R24))
    y11 = _u32(y11 + y15); y7 = _u32(y7 ^ y11); y7 = _u32((y7 << _R7) | (y7 >> _R25))
    y0 = _u32(y0 + y5); y15 = _u32(y15 ^ y0); y15 = _u32((y15 << _R16) | (y15 >> _R16))
    y10 = _u32(y10 + y15); y5 = _u32(y5 ^ y10); y5 = _u32((y5 << _R12) | (y5 >> _R20))
    y0 = _u32(y0 + y5); y15 = _u32(y15 ^ y0); y15 = _u32((y15 << _R8) | (y15 >> _R24))
    y10 = _u32(y10 + y15); y5 = _u32(y5 ^ y10); y5 = _u32((y5 << _R7) | (y5 >> _R25))
    y1 = _u32(y1 + y6); y12 = _u32(y12 ^ y1); y12 = _u32((y12 << _R16) | (y12 >> _R16))
    y11 = _u32(y11 + y12); y6 = _u32(y6 ^ y11); y6 = _u32((y6 << _R12) | (y6 >> _R20))
    y1 = _u32(y1 + y6); y12 = _u32(y12 ^ y1); y12 = _u32((y12 << _R8) | (y12 >> _R24))
    y11 = _u32(y11 + y12); y6 = _u32(y6 ^ y11); y6 = _u32((y6 << _R7) | (y6 >> _R25))
    y2 = _u32(y2 + y7); y13 = _u32(y13 ^ y2); y13 = _u32((y13 << _R16) | (y13 >> _R16))
    y8 = _u32(y8 + y13); y7 = _u32(y7 ^ y8); y7 = _u32((y7 << _R12) | (y7 >> _R20))
    y2 = _u32(y2 + y7); y13 = _u32(y13 ^ y2); y13 = _u32((y13 << _R8) | (y13 >> _R24))
    y8 = _u32(y8 + y13); y7 = _u32(y7 ^ y8); y7 = _u32((y7 << _R7) | (y7 >> _R25))
    y3 = _u32(y3 + y4); y14 = _u32(y14 ^ y3); y14 = _u32((y14 << _R16) | (y14 >> _R16))
    y9 = _u32(y9 + y14); y4 = _u32(y4 ^ y9); y4 = _u32((y4 << _R12) | (y4 >> _R20))
    y3 = _u32(y3 + y4); y14 = _u32(y14 ^ y3); y14 = _u32((y14 << _R8) | (y14 >> _R24))
    y9 = _u32(y9 + y14); y4 = _u32(y4 ^ y9); y4 = _u32((y4 << _R7) | (y4 >> _R25))
    # double round 2: columns, then diagonals
    y0 = _u32(y0 + y4); y12 = _u32(y12 ^ y0); y12 = _u32((y12 << _R16) | (y12 >> _R16))
    y8 = _u32(y8 + y12); y4 = _u32(y4 ^ y8); y4 = _u32((y4 << _R12) | (y4 >> _R20))
    y0 = _u32(y0 + y4); y12 = _u32(y12 ^ y0); y12 = _u32((y12 << _R8) | (y12 >> _R24))
    y8 = _u32(y8 + y12); y4 = _u32(y4 ^ y8); y4 = _u32((y4 << _R7) | (y4 >> _R25))
    y1 = _u32(y1 + y5); y13 = _u32(y13 ^ y1); y13 = _u32((y13 << _R16) | (y13 >> _R16))
    y9 = _u32(y9 + y13); y5 = _u32(y5 ^ y9); y5 = _u32((y5 << _R12) | (y5 >> _R20))
    y1 = _u32(y1 + y5); y13 = _u32(y13 ^ y1); y13 = _u32((y13 << _R8) | (y13 >> _R24))
    y9 = _u32(y9 + y13); y5 = _u32(y5 ^ y9); y5 = _u32((y5 << _R7) | (y5 >> _R25))
    y2 = _u32(y2 + y6); y14 = _u32(y14 ^ y2); y14 = _u32((y14 << _R16) | (y14 >> _R16))
    y10 = _u32(y10 + y14); y6 = _u32(y6 ^ y10); y6 = _u32((y6 << _R12) | (y6 >> _R20))
    y2 = _u32(y2 + y6); y14 = _u32(y14 ^ y2); y14 = _u32((y14 << _R8) | (y14 >> _R24))
    y10 = _u32(y10 + y14); y6 = _u32(y6 ^ y10); y6 = _u32((y6 << _R7) | (y6 >> _R25))
    y3 = _u32(y3 + y7); y15 = _u32(y15 ^ y3); y15 = _u32((y15 << _R16) | (y15 >> _R16))
    y11 = _u32(y11 + y15); y7 = _u32(y7 ^ y11); y7 = _u32((y7 << _R12) | (y7 >> _R20))
    y3 = _u32(y3 + y7); y15 = _u32(y15 ^ y3); y15 = _u32((y15 << _R8) | (y15 >> _R24))
    y11 = _u32(y11 + y15); y7 = _u32(y7 ^ y11); y7 = _u32((y7 << _R7) | (y7 >> _R25))
    y0 = _u32(y0 + y5); y15 = _u32(y15 ^ y0); y15 = _u32((y15 << _R16) | (y15 >> _R16))
    y10 = _u32(y10 + y15); y5 = _u32(y5 ^ y10); y5 = _u32((y5 << _R12) | (y5 >> _R20))
    y0 = _u32(y0 + y5); y15 = _u32(y15 ^ y0); y15 = _u32((y15 << _R8) | (y15 >> _R24))
    y10 = _u32(y10 + y15); y5 = _u32(y5 ^ y10); y5 = _u32((y5 << _R7) | (y5 >> _R25))
    y1 = _u32(y1 + y6); y12 = _u32(y12 ^ y1); y12 = _u32((y12 << _R16) | (y12 >> _R16))
    y11 = _u32(y11 + y12); y6 = _u32(y6 ^ y11); y6 = _u32((y6 << _R12) | (y6 >> _R20))
    y1 = _u32(y1 + y6); y12 = _u32(y12 ^ y1); y12 = _u32((y12 << _R8) | (y12 >> _R24))
    y11 = _u32(y11 + y12); y6 = _u32(y6 ^ y11); y6 = _u32((y6 << _R7) | (y6 >> _R25))
    y2 = _u32(y2 + y7); y13 = _u32(y13 ^ y2); y13 = _u32((y13 << _R16) | (y13 >> _R16))
    y8 = _u32(y8 + y13); y7 = _u32(y7 ^ y8); y7 = _u32((y7 << _R12) | (y7 >> _R20))
    y2 = _u32(y2 + y7); y13 = _u32(y13 ^ y2); y13 = _u32((y13 << _R8) | (y13 >> _R24))
    y8 = _u32(y8 + y13); y7 = _u32(y7 ^ y8); y7 = _u32((y7 << _R7) | (y7 >> _R25))
    y3 = _u32(y3 + y4); y14 = _u32(y14 ^ y3); y14 = _u32((y14 << _R16) | (y14 >> _R16))
    y9 = _u32(y9 + y14); y4 = _u32(y4 ^ y9); y4 = _u32((y4 << _R12) | (y4 >> _R20))
    y3 = _u32(y3 + y4); y14 = _u32(y14 ^ y3); y14 = _u32((y14 << _R8) | (y14 >> _R24))
    y9 = _u32(y9 + y14); y4 = _u32(y4 ^ y9); y4 = _u32((y4 << _R7) | (y4 >> _R25))
    # double round 3: columns, then diagonals
    y0 = _u32(y0 + y4); y12 = _u32(y12 ^ y0); y12 = _u32((y12 << _R16) | (y12 >> _R16))
    y8 = _u32(y8 + y12); y4 = _u32(y4 ^ y8); y4 = _u32((y4 << _R12) | (y4 >> _R20))
    y0 = _u32(y0 + y4); y12 = _u32(y12 ^ y0); y12 = _u32((y12 << _R8) | (y12 >> _R24))
    y8 = _u32(y8 + y12); y4 = _u32(y4 ^ y8); y4 = _u32((y4 << _R7) | (y4 >> _R25))
    y1 = _u32(y1 + y5); y13 = _u32(y13 ^ y1); y13 = _u32((y13 << _R16) | (y13 >> _R16))
    y9 = _u32(y9 + y13); y5 = _u32(y5 ^ y9); y5 = _u32((y5 << _R12) | (y5 >> _R20))
    y1 = _u32(y1 + y5); y13 = _u32(y13 ^ y1); y13 = _u32((y13 << _R8) | (y13 >> _R24))
    y9 = _u32(y9 + y13); y5 = _u32(y5 ^ y9); y5 = _u32((y5 << _R7) | (y5 >> _R25))
    y2 = _u32(y2 + y6); y14 = _u32(y14 ^ y2); y14 = _u32((y14 << _R16) | (y14 >> _R16))
    y10 = _u32(y10 + y14); y6 = _u32(y6 ^ y10); y6 = _u32((y6 << _R12) | (y6 >> _R20))
    y2 = _u32(y2 + y6); y14 = _u32(y14 ^ y2); y14 = _u32((y14 << _R8) | (y14 >> _R24))
    y10 = _u32(y10 + y14); y6 = _u32(y6 ^ y10); y6 = _u32((y6 << _R7) | (y6 >> _R25))
    y3 = _u32(y3 + y7); y15 = _u32(y15 ^ y3); y15 = _u32((y15 << _R16) | (y15 >> _R16))
    y11 = _u32(y11 + y15); y7 = _u32(y7 ^ y11); y7 = _u32((y7 << _R12) | (y7 >> _R20))
    y3 = _u32(y3 + y7); y15 = _u32(y15 ^ y3); y15 = _u32((y15 << _R8) | (y15 >> _R24))
    y11 = _u32(y11 + y15); y7 = _u32(y7 ^ y11); y7 = _u32((y7 << _R7) | (y7 >> _R25))
    y0 = _u32(y0 + y5); y15 = _u32(y15 ^ y0); y15 = _u32((y15 << _R16) | (y15 >> _R16))
    y10 = _u32(y10 + y15); y5 = _u32(y5 ^ y10); y5 = _u32((y5 << _R12) | (y5 >> _R20))
    y0 = _u32(y0 + y5); y15 = _u32(y15 ^ y0); y15 = _u32((y15 << _R8) | (y15 >> _R24))
    y10 = _u32(y10 + y15); y5 = _u32(y5 ^ y10); y5 = _u32((y5 << _R7) | (y5 >> _R25))
    y1 = _u32(y1 + y6); y12 = _u32(y12 ^ y1); y12 = _u32((y12 << _R16) | (y12 >> _R16))
    y11 = _u32(y11 + y12); y6 = _u32(y6 ^ y11); y6 = _u32((y6 << _R12) | (y6 >> _R20))
    y1 = _u32(y1 + y6); y12 = _u32(y12 ^ y1); y12 = _u32((y12 << _R8) | (y12 >> _R24))
    y11 = _u32(y11 + y12); y6 = _u32(y6 ^ y11); y6 = _u32((y6 << _R7) | (y6 >> _R25))
    y2 = _u32(y2 + y7); y13 = _u32(y13 ^ y2); y13 = _u32((y13 << _R16) | (y13 >> _R16))
    y8 = _u32(y8 + y13); y7 = _u32(y7 ^ y8); y7 = _u32((y7 << _R12) | (y7 >> _R20))
    y2 = _u32(y2 + y7); y13 = _u32(y13 ^ y2); y13 = _u32((y13 << _R8) | (y13 >> _R24))
    y8 = _u32(y8 + y13); y7 = _u32(y7 ^ y8); y7 = _u32((y7 << _R7) | (y7 >> _R25))
    y3 = _u32(y3 + y4); y14 = _u32(y14 ^ y3); y14 = _u32((y14 << _R16) | (y14 >> _R16))
    y9 = _u32(y9 + y14); y4 = _u32(y4 ^ y9); y4 = _u32((y4 << _R12) | (y4 >> _R20))
    y3 = _u32(y3 + y4); y14 = _u32(y14 ^ y3); y14 = _u32((y14 << _R8) | (y14 >> _R24))
    y9 = _u32(y9 + y14); y4 = _u32(y4 ^ y9); y4 = _u32((y4 << _R7) | (y4 >> _R25))
    # double round 4: columns, then diagonals
    y0 = _u32(y0 + y4); y12 = _u32(y12 ^ y0); y12 = _u32((y12 << _R16) | (y12 >> _R16))
    y8 = _u32(y8 + y12); y4 = _u32(y4 ^ y8); y4 = _u32((y4 << _R12) | (y4 >> _R20))
    y0 = _u32(y0 + y4); y12 = _u32(y12 ^ y0); y12 = _u32((y12 << _R8) | (y12 >> _R24))
    y8 = _u32(y8 + y12); y4 = _u32(y4 ^ y8); y4 = _u32((y4 << _R7) | (y4 >> _R25))
    y1 = _u32(y1 + y5); y13 = _u32(y13 ^ y1); y13 = _u32((y13 << _R16) | (y13 >> _R16))
    y9 = _u32(y9 + y13); y5 = _u32(y5 ^ y9); y5 = _u32((y5 << _R12) | (y5 >> _R20))
    y1 = _u32(y1 + y5); y13 = _u32(y13 ^ y1); y13 = _u32((y13 << _R8) | (y13 >> _R24))
    y9 = _u32(y9 + y13); y5 = _u32(y5 ^ y9); y5 = _u32((y5 << _R7) | (y5 >> _R25))
    y2 = _u32(y2 + y6); y14 = _u32(y14 ^ y2); y14 = _u32((y14 << _R16) | (y14 >> _R16))
    y10 = _u32(y10 + y14); y6 = _u32(y6 ^ y10); y6 = _u32((y6 << _R12) | (y6 >> _R20))
    y2 = _u32(y2 + y6); y14 = _u32(y14 ^ y2); y14 = _u32((y14 << _R8) | (y14 >> _R24))
    y10 = _u32(y10 + y14); y6 = _u32(y6 ^ y10); y6 = _u32((y6 << _R7) | (y6 >> _R25))
    y3 = _u32(y3 + y7); y15 = _u32(y15 ^ y3); y15 = _u32((y15 << _R16) | (y15 >> _R16))
    y11 = _u32(y11 + y15); y7 = _u32(y7 ^ y11); y7 = _u32((y7 << _R12) | (y7 >> _R20))
    y3 = _u32(y3 + y7); y15 = _u32(y15 ^ y3); y15 = _u32((y15 << _R8) | (y15 >> _R24))
    y11 = _u32(y11 + y15); y7 = _u32(y7 ^ y11); y7 = _u32((y7 << _R7) | (y7 >> _R25))
    y0 = _u32(y0 + y5); y15 = _u32(y15 ^ y0); y15 = _u32((y15 << _R16) | (y15 >> _R16))
    y10 = _u32(y10 + y15); y5 = _u32(y5 ^ y10); y5 = _u32((y5 << _R12) | (y5 >> _R20))
    y0 = _u32(y0 + y5); y15 = _u32(y15 ^ y0); y15 = _u32((y15 << _R8) | (y15 >> _R24))
    y10 = _u32(y10 + y15); y5 = _u32(y5 ^ y10); y5 = _u32((y5 << _R7) | (y5 >> _R25))
    y1 = _u32(y1 + y6); y12 = _u32(y12 ^ y1); y12 = _u32((y12 << _R16) | (y12 >> _R16))
    y11 = _u32(y11 + y12); y6 = _u32(y6 ^ y11); y6 = _u32((y6 << _R12) | (y6 >> _R20))
    y1 = _u32(y1 + y6); y12 = _u32(y12 ^ y1); y12 = _u32((y12 << _R8) | (y12 >> _R24))
    y11 = _u32(y11 + y12); y6 = _u32(y6 ^ y11); y6 = _u32((y6 << _R7) | (y6 >> _R25))
    y2 = _u32(y2 + y7); y13 = _u32(y13 ^ y2); y13 = _u32((y13 << _R16) | (y13 >> _R16))
    y8 = _u32(y8 + y13); y7 = _u32(y7 ^ y8); y7 = _u32((y7 << _R12) | (y7 >> _R20))
    y2 = _u32(y2 + y7); y13 = _u32(y13 ^ y2); y13 = _u32((y13 << _R8) | (y13 >> _R24))
    y8 = _u32(y8 + y13); y7 = _u32(y7 ^ y8); y7 = _u32((y7 << _R7) | (y7 >> _R25))
    y3 = _u32(y3 + y4); y14 = _u32(y14 ^ y3); y14 = _u32((y14 << _R16) | (y14 >> _R16))
    y9 = _u32(y9 + y14); y4 = _u32(y4 ^ y9); y4 = _u32((y4 << _R12) | (y4 >> _R20))
    y3 = _u32(y3 + y4); y14 = _u32(y14 ^ y3); y14 = _u32((y14 << _R8) | (y14 >> _R24))
    y9 = _u32(y9 + y14); y4 = _u32(y4 ^ y9); y4 = _u32((y4 << _R7) | (y4 >> _R25))
    return (
        _u32(y0 + x0), _u32(y1 + x1), _u32(y2 + x2), _u32(y3 + x3),
        _u32(y4 + x4), _u32(y5 + x5), _u32(y6 + x6), _u32(y7 + x7),
        _u32(y8 + x8), _u32(y9 + x9), _u32(y10 + x10), _u32(y11 + x11),
        _u32(y12 + x12), _u32(y13 + x13), _u32(y14 + x14), _u32(y15 + x15),
    )  # fmt: skip


@njit(inline="always")
def _blockmix_lane(b, c, B, dst, l):
    """BlockMix (r = 1) of one lane, B0 = b and B1 = c (16-tuples of u32), into the tile at B[dst:].

    (Tuples, because CPython compiles calls with more than 30 arguments to CALL_FUNCTION_EX, which numba
    cannot inline.)
    """
    b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15 = b
    c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15 = c
    y0, y1, y2, y3, y4, y5, y6, y7, y8, y9, y10, y11, y12, y13, y14, y15 = _chacha8(
        _u32(b0 ^ c0), _u32(b1 ^ c1), _u32(b2 ^ c2), _u32(b3 ^ c3),
        _u32(b4 ^ c4), _u32(b5 ^ c5), _u32(b6 ^ c6), _u32(b7 ^ c7),
        _u32(b8 ^ c8), _u32(b9 ^ c9), _u32(b10 ^ c10), _u32(b11 ^ c11),
        _u32(b12 ^ c12), _u32(b13 ^ c13), _u32(b14 ^ c14), _u32(b15 ^ c15),
    )  # fmt: skip
    L = LANES
    B[dst + 0 * L + l] = y0
    B[dst + 1 * L + l] = y1
    B[dst + 2 * L + l] = y2
    B[dst + 3 * L + l] = y3
    B[dst + 4 * L + l] = y4
    B[dst + 5 * L + l] = y5
    B[dst + 6 * L + l] = y6
    B[dst + 7 * L + l] = y7
    B[dst + 8 * L + l] = y8
    B[dst + 9 * L + l] = y9
    B[dst + 10 * L + l] = y10
    B[dst + 11 * L + l] = y11
    B[dst + 12 * L + l] = y12
    B[dst + 13 * L + l] = y13
    B[dst + 14 * L + l] = y14
    B[dst + 15 * L + l] = y15
    z0, z1, z2, z3, z4, z5, z6, z7, z8, z9, z10, z11, z12, z13, z14, z15 = _chacha8(
        _u32(y0 ^ c0), _u32(y1 ^ c1), _u32(y2 ^ c2), _u32(y3 ^ c3),
        _u32(y4 ^ c4), _u32(y5 ^ c5), _u32(y6 ^ c6), _u32(y7 ^ c7),
        _u32(y8 ^ c8), _u32(y9 ^ c9), _u32(y10 ^ c10), _u32(y11 ^ c11),
        _u32(y12 ^ c12), _u32(y13 ^ c13), _u32(y14 ^ c14), _u32(y15 ^ c15),
    )  # fmt: skip
    B[dst + 16 * L + l] = z0
    B[dst + 17 * L + l] = z1
    B[dst + 18 * L + l] = z2
    B[dst + 19 * L + l] = z3
    B[dst + 20 * L + l] = z4
    B[dst + 21 * L + l] = z5
    B[dst + 22 * L + l] = z6
    B[dst + 23 * L + l] = z7
    B[dst + 24 * L + l] = z8
    B[dst + 25 * L + l] = z9
    B[dst + 26 * L + l] = z10
    B[dst + 27 * L + l] = z11
    B[dst + 28 * L + l] = z12
    B[dst + 29 * L + l] = z13
    B[dst + 30 * L + l] = z14
    B[dst + 31 * L + l] = z15


@njit(inline="always")
def _blockmix_tile(B, src, dst):
    """B[dst:] = BlockMix(B[src:]) for every lane (src, dst: constant tile offsets)."""
    L = LANES
    for l in range(LANES):
        _blockmix_lane(
            (B[src + 0 * L + l], B[src + 1 * L + l], B[src + 2 * L + l], B[src + 3 * L + l],
             B[src + 4 * L + l], B[src + 5 * L + l], B[src + 6 * L + l], B[src + 7 * L + l],
             B[src + 8 * L + l], B[src + 9 * L + l], B[src + 10 * L + l], B[src + 11 * L + l],
             B[src + 12 * L + l], B[src + 13 * L + l], B[src + 14 * L + l], B[src + 15 * L + l]),
            (B[src + 16 * L + l], B[src + 17 * L + l], B[src + 18 * L + l], B[src + 19 * L + l],
             B[src + 20 * L + l], B[src + 21 * L + l], B[src + 22 * L + l], B[src + 23 * L + l],
             B[src + 24 * L + l], B[src + 25 * L + l], B[src + 26 * L + l], B[src + 27 * L + l],
             B[src + 28 * L + l], B[src + 29 * L + l], B[src + 30 * L + l], B[src + 31 * L + l]),
            B, dst, l,
        )  # fmt: skip


# One compiled loop per direction: inside each, every offset is a constant, which is what lets LLVM prove
# the loads and stores of an iteration apart and vectorize a loop of only 8 iterations.
@njit(boundscheck=False)
def _mix_x_to_y(B):
    _blockmix_tile(B, X_AT, Y_AT)


@njit(boundscheck=False)
def _mix_y_to_x(B):
    _blockmix_tile(B, Y_AT, X_AT)


@njit(boundscheck=False)
def _store_tile(B, src, V, base):
    """V[base + l*32 + w] = B[src + w*LANES + l]: a tile into per-lane contiguous entries."""
    for lb in range(0, LANES, 8):
        for wb in range(0, WORDS, 8):
            _transpose8(B, src + wb * LANES + lb, LANES, V, base + lb * WORDS + wb, WORDS)


@njit(boundscheck=False)
def _xor_tile(V, offs, B, dst):
    """B[dst + w*LANES + l] ^= V[offs[l] + w]: per-lane entries (anywhere) into a tile."""
    for lb in range(0, LANES, 8):
        for wb in range(0, WORDS, 8):
            _gather_xor_transpose8(V, offs, lb, wb, B, dst + wb * LANES + lb, LANES)


@njit(boundscheck=False)
def _lookup_offsets(B, src, offs, mask):
    """Where each lane's next V entry is: j = (first word of the last block) mod N."""
    for l in range(LANES):
        offs[l] = ((B[src + 16 * LANES + l] & mask) * LANES + l) * WORDS


@njit(boundscheck=False)
def romix_tile(B, V, offs, n):
    """ROMix (r = 1) of the LANES lanes of tile B[X_AT:], in place.  B: TILES tiles; V: n*LANES*32 words."""
    mask = n - 1
    stride = LANES * WORDS
    for k in range(0, n, 2):  # n is a power of two ≥ 2
        _store_tile(B, X_AT, V, k * stride)
        _mix_x_to_y(B)
        _store_tile(B, Y_AT, V, (k + 1) * stride)
        _mix_y_to_x(B)
    for k in range(0, n, 2):
        _lookup_offsets(B, X_AT, offs, mask)
        _xor_tile(V, offs, B, X_AT)  # X ^= V[j], then X = BlockMix(X) as in phase 1
        _mix_x_to_y(B)
        _lookup_offsets(B, Y_AT, offs, mask)
        _xor_tile(V, offs, B, Y_AT)
        _mix_y_to_x(B)


# --- Keccak-f[1600], HMAC/PBKDF2 specialised for the 72-byte password ---------------------------------

_RC = np.array(
    [
        0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
        0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
        0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
        0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
        0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
        0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
    ],
    dtype=np.uint64,
)  # fmt: skip
# ρ rotation of lane i = x + 5y, and its π destination y + 5·((2x + 3y) mod 5)
_ROT = np.array([0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14],
                dtype=np.uint64)  # fmt: skip
_PI = np.array([(i // 5) + 5 * ((2 * (i % 5) + 3 * (i // 5)) % 5) for i in range(25)], dtype=np.int64)
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_IPAD = np.uint64(0x3636363636363636)
_OPAD = np.uint64(0x5C5C5C5C5C5C5C5C)
_PAD_END = np.uint64(0x80 << 56)  # 0x80 in the last byte of the 72-byte block
_PAD_AT64 = np.uint64(0x01) | np.uint64(0x80 << 56)  # 64-byte message: 0x01 at byte 64, 0x80 at 71


@njit(boundscheck=False, inline="always")
def _rotl64(v, r):
    return (v << r) | (v >> ((_u64(64) - r) & _u64(63)))


@njit(boundscheck=False)
def keccak_f1600(s, b, c):
    """Permute the 25 u64 lanes of s in place; b (25) and c (5) are scratch."""
    for rnd in range(24):
        for x in range(5):
            c[x] = s[x] ^ s[x + 5] ^ s[x + 10] ^ s[x + 15] ^ s[x + 20]
        for x in range(5):
            d = c[(x + 4) % 5] ^ _rotl64(c[(x + 1) % 5], _u64(1))
            for y in range(0, 25, 5):
                s[y + x] ^= d
        for i in range(25):
            b[_PI[i]] = _rotl64(s[i], _ROT[i])
        for y in range(0, 25, 5):
            for x in range(5):
                s[y + x] = b[y + x] ^ ((b[y + (x + 1) % 5] ^ _M64) & b[y + (x + 2) % 5])
        s[0] ^= _RC[rnd]


@njit(boundscheck=False)
def _hmac_pads(key, si, so, b, c):
    """si/so = Keccak states after absorbing key^ipad / key^opad (key: 9 u64 lanes = 72 bytes)."""
    for i in range(25):
        si[i] = 0
        so[i] = 0
    for i in range(9):
        si[i] = key[i] ^ _IPAD
        so[i] = key[i] ^ _OPAD
    keccak_f1600(si, b, c)
    keccak_f1600(so, b, c)


@njit(boundscheck=False)
def _hmac_finish(st, so, b, c):
    """st holds the finished inner hash (lanes 0..7); run the outer hash into st."""
    for i in range(8):
        st[i] ^= so[i]
    for i in range(8, 25):
        st[i] = so[i]
    st[8] ^= _PAD_AT64
    keccak_f1600(st, b, c)


@njit(boundscheck=False)
def _pbkdf2_first(si, so, X, l, st, b, c):
    """B = PBKDF2(pw, "", 128) as 32 u32 words into lane l of tile X."""
    for blk in range(2):
        for i in range(25):
            st[i] = si[i]
        # message BE32(blk + 1) = bytes 00 00 00 k, then 0x01 padding at byte 4
        st[0] ^= (_u64(blk + 1) << _u64(24)) | (_u64(1) << _u64(32))
        st[8] ^= _PAD_END
        keccak_f1600(st, b, c)
        _hmac_finish(st, so, b, c)
        for m in range(8):
            w = 16 * blk + 2 * m
            X[w * LANES + l] = _u32(st[m] & _u64(0xFFFFFFFF))
            X[(w + 1) * LANES + l] = _u32(st[m] >> _u64(32))


@njit(boundscheck=False)
def _pbkdf2_last(si, so, X, l, st, b, c):
    """st[0..3] = first 32 bytes of HMAC(pw, X_lane ‖ BE32(1))."""
    for i in range(25):
        st[i] = si[i]
    for m in range(9):  # bytes 0..71 of X
        st[m] ^= _u64(X[2 * m * LANES + l]) | (_u64(X[(2 * m + 1) * LANES + l]) << _u64(32))
    keccak_f1600(st, b, c)
    for m in range(7):  # bytes 72..127
        st[m] ^= _u64(X[(18 + 2 * m) * LANES + l]) | (_u64(X[(19 + 2 * m) * LANES + l]) << _u64(32))
    st[7] ^= (_u64(1) << _u64(24)) | (_u64(1) << _u64(32))  # BE32(1) at bytes 56..59, 0x01 at 60
    st[8] ^= _PAD_END
    keccak_f1600(st, b, c)
    _hmac_finish(st, so, b, c)


@njit(boundscheck=False)
def _label_group(key_lanes, start, first, count, n, out, X, V, offs, si, so, st, b, c):
    """Labels start+first … start+first+LANES-1 (those < count) into out[first:…]."""
    key = np.empty(9, np.uint64)
    for i in range(9):
        key[i] = key_lanes[i]
    for l in range(LANES):
        pos = min(first + l, count - 1)  # lanes past the end recompute the last label; not stored
        key[4] = _u64(start) + _u64(pos)
        _hmac_pads(key, si[l], so[l], b, c)
        _pbkdf2_first(si[l], so[l], X, l, st, b, c)
    romix_tile(X, V, offs, n)
    for l in range(min(LANES, count - first)):
        _pbkdf2_last(si[l], so[l], X, l, st, b, c)
        for m in range(4):
            v = st[m]
            for k in range(8):
                out[first + l, 8 * m + k] = np.uint8((v >> _u64(8 * k)) & _u64(0xFF))


@njit(parallel=True, boundscheck=False, cache=True)
def _labels_kernel(key_lanes, start, count, n, out, scratch):
    """out[i] = scrypt-jane output of index start+i; scratch: (threads, n*LANES*32) u32."""
    threads = scratch.shape[0]
    groups = (count + LANES - 1) // LANES
    for t in prange(threads):
        V = scratch[t]
        X = np.empty(TILES * TILE, np.uint32)  # the state tile first: X[w * LANES + l]
        offs = np.empty(LANES, np.int64)
        si = np.empty((LANES, 25), np.uint64)
        so = np.empty((LANES, 25), np.uint64)
        st = np.empty(25, np.uint64)
        b = np.empty(25, np.uint64)
        c = np.empty(5, np.uint64)
        for g in range(t, groups, threads):
            _label_group(key_lanes, start, g * LANES, count, n, out, X, V, offs, si, so, st, b, c)


# --- Python-facing backend ---------------------------------------------------------------------------


def key_lanes(commitment: bytes) -> np.ndarray:
    """The 9 u64 lanes of the password with index 0: commitment ‖ 0 ‖ 0^32 (index goes in lane 4)."""
    lanes = np.zeros(9, dtype=np.uint64)
    lanes[:4] = np.frombuffer(bytes(commitment), dtype="<u8")
    return lanes


def aligned_empty(shape: tuple[int, int], align: int = 1 << 21) -> np.ndarray:
    """An uninitialised u32 array whose rows start on `align` bytes (2 MiB: huge pages) when the row size
    allows.  numpy's large arrays start 16 bytes into a page, which makes every 128-byte scratchpad
    entry straddle three cache lines instead of two."""
    rows, words = shape
    raw = np.empty(rows * words + align // 4, dtype=np.uint32)
    skip = (-raw.ctypes.data % align) // 4
    return raw[skip : skip + rows * words].reshape(rows, words)


class NumbaCpuBackend:
    """The numba kernel behind `LabelBackend`; scratchpads are kept for the last two N used."""

    name = "[CPU] scrypt-jane (numba)"
    kind = "cpu"

    def __init__(self, threads: int | None = None) -> None:
        self._threads = threads
        self._scratch: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()  # one kernel call at a time: shared scratch, workqueue threading layer

    def _threads_now(self) -> int:
        import numba

        available = numba.get_num_threads()
        return max(1, min(self._threads or available, available))

    def _scratchpad(self, n: int, threads: int) -> np.ndarray:
        scratch = self._scratch.pop(n, None)
        if scratch is None or scratch.shape[0] < threads:
            scratch = None  # free before allocating the bigger one
            scratch = aligned_empty((threads, n * LANES * WORDS))
        while len(self._scratch) > 1:
            self._scratch.pop(next(iter(self._scratch)))
        self._scratch[n] = scratch  # most recent last
        return scratch[:threads]

    def compute(self, commitment: bytes, start: int, count: int, n: int) -> np.ndarray:
        """Outputs of indices start … start+count-1 (arguments already validated by the caller)."""
        out = np.empty((count, 32), dtype=np.uint8)
        if count == 0:
            return out
        with self._lock:
            threads = min(self._threads_now(), -(-count // LANES))
            _labels_kernel(key_lanes(commitment), np.uint64(start), count, n, out, self._scratchpad(n, threads))
        return out
