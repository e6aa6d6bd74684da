/*
 * scrypt-jane PoST labels (Keccak-512 + ChaCha20/8, r = p = 1, 72-byte password, empty salt, 32-byte output).
 * spec/post.md §1.2 and §4.1.  Written for smesh; the plain-Python reference is core/post/scrypt_jane.py.
 *
 * One work-item computes one label.  Compile-time parameters:
 *   SCRYPT_N    N, a power of two >= 2
 *   LOOKUP_GAP  store every LOOKUP_GAP-th ROMix state (power of two, default 2); a lookup of an unstored
 *               state recomputes it with (j mod LOOKUP_GAP) extra BlockMix rounds
 *
 * Scratchpad: up to 8 buffers (so no single allocation is capped by CL_DEVICE_MAX_MEM_ALLOC_SIZE), each
 * serving `items_per_buf` consecutive work-items.  Inside a buffer, in uint4 units and with 64-bit
 * offsets: entry(y, x, z) = (y * items_per_buf + x) * 8 + z — for each stored step y the 128-byte
 * entries of consecutive work-items are adjacent (phase-1 stores of a work-group fill whole cache
 * lines) and each entry is contiguous (a phase-2 lookup reads one 128-byte line).
 */

#ifndef SCRYPT_N
#error "SCRYPT_N must be defined"
#endif
#ifndef LOOKUP_GAP
#define LOOKUP_GAP 2
#endif

/* Rotations as shifts: every compiler turns these into its rotate/funnel-shift instruction, while the
 * rotate() builtin is an out-of-line call on some CPU runtimes (PoCL).  n is a constant in 1..width-1. */
#define ROTL32(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define ROTL64(x, n) (((x) << (n)) | ((x) >> (64 - (n))))

__constant ulong keccak_rc[24] = {
    0x0000000000000001UL, 0x0000000000008082UL, 0x800000000000808AUL, 0x8000000080008000UL,
    0x000000000000808BUL, 0x0000000080000001UL, 0x8000000080008081UL, 0x8000000000008009UL,
    0x000000000000008AUL, 0x0000000000000088UL, 0x0000000080008009UL, 0x000000008000000AUL,
    0x000000008000808BUL, 0x800000000000008BUL, 0x8000000000008089UL, 0x8000000000008003UL,
    0x8000000000008002UL, 0x8000000000000080UL, 0x000000000000800AUL, 0x800000008000000AUL,
    0x8000000080008081UL, 0x8000000000008080UL, 0x0000000080000001UL, 0x8000000080008008UL,
};

#define IPAD 0x3636363636363636UL
#define OPAD 0x5C5C5C5C5C5C5C5CUL
#define PAD_END (0x80UL << 56)          /* 0x80 in the last byte of a 72-byte block */
#define PAD_AT64 (0x01UL | (0x80UL << 56)) /* 64-byte message: 0x01 at byte 64, 0x80 at byte 71 */

static void keccak_f1600(ulong *a)
{
    ulong b[25], c[5], d;
    for (int r = 0; r < 24; ++r) {
#pragma unroll
        for (int x = 0; x < 5; ++x)
            c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
#pragma unroll
        for (int x = 0; x < 5; ++x) {
            d = c[(x + 4) % 5] ^ ROTL64(c[(x + 1) % 5], 1);
            a[x] ^= d; a[x + 5] ^= d; a[x + 10] ^= d; a[x + 15] ^= d; a[x + 20] ^= d;
        }
        /* rho and pi: lane x + 5y goes to y + 5((2x + 3y) mod 5) */
        b[ 0] = a[0];
        b[10] = ROTL64(a[ 1], 1);
        b[20] = ROTL64(a[ 2], 62);
        b[ 5] = ROTL64(a[ 3], 28);
        b[15] = ROTL64(a[ 4], 27);
        b[16] = ROTL64(a[ 5], 36);
        b[ 1] = ROTL64(a[ 6], 44);
        b[11] = ROTL64(a[ 7], 6);
        b[21] = ROTL64(a[ 8], 55);
        b[ 6] = ROTL64(a[ 9], 20);
        b[ 7] = ROTL64(a[10], 3);
        b[17] = ROTL64(a[11], 10);
        b[ 2] = ROTL64(a[12], 43);
        b[12] = ROTL64(a[13], 25);
        b[22] = ROTL64(a[14], 39);
        b[23] = ROTL64(a[15], 41);
        b[ 8] = ROTL64(a[16], 45);
        b[18] = ROTL64(a[17], 15);
        b[ 3] = ROTL64(a[18], 21);
        b[13] = ROTL64(a[19], 8);
        b[14] = ROTL64(a[20], 18);
        b[24] = ROTL64(a[21], 2);
        b[ 9] = ROTL64(a[22], 61);
        b[19] = ROTL64(a[23], 56);
        b[ 4] = ROTL64(a[24], 14);
#pragma unroll
        for (int y = 0; y < 25; y += 5) {
#pragma unroll
            for (int x = 0; x < 5; ++x)
                a[y + x] = b[y + x] ^ (~b[y + (x + 1) % 5] & b[y + (x + 2) % 5]);
        }
        a[0] ^= keccak_rc[r];
    }
}

/* state after absorbing the 72-byte key XOR pad (the password is exactly one Keccak-512 block) */
static void hmac_pad(ulong *s, const ulong *key, ulong pad)
{
#pragma unroll
    for (int i = 0; i < 9; ++i) s[i] = key[i] ^ pad;
#pragma unroll
    for (int i = 9; i < 25; ++i) s[i] = 0;
    keccak_f1600(s);
}

/* s holds a finished inner hash (lanes 0..7): replace it by the outer hash */
static void hmac_outer(ulong *s, const ulong *key)
{
    ulong o[25];
    hmac_pad(o, key, OPAD);
#pragma unroll
    for (int i = 0; i < 8; ++i) o[i] ^= s[i];
    o[8] ^= PAD_AT64;
    keccak_f1600(o);
#pragma unroll
    for (int i = 0; i < 8; ++i) s[i] = o[i];
}

#define QR(a, b, c, d)                          \
    a += b; d ^= a; d = ROTL32(d, 16);          \
    c += d; b ^= c; b = ROTL32(b, 12);          \
    a += b; d ^= a; d = ROTL32(d, 8);           \
    c += d; b ^= c; b = ROTL32(b, 7);

/* Inlining keeps X/T in registers; PoCL otherwise calls these with the arrays in memory (5x slower). */
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* x = ChaCha20/8(x) + x on 16 words in natural order */
static ALWAYS_INLINE void chacha8(uint *x)
{
    uint y0 = x[0], y1 = x[1], y2 = x[2], y3 = x[3], y4 = x[4], y5 = x[5], y6 = x[6], y7 = x[7];
    uint y8 = x[8], y9 = x[9], y10 = x[10], y11 = x[11], y12 = x[12], y13 = x[13], y14 = x[14], y15 = x[15];
#pragma unroll
    for (int r = 0; r < 4; ++r) {
        QR(y0, y4, y8, y12) QR(y1, y5, y9, y13) QR(y2, y6, y10, y14) QR(y3, y7, y11, y15)
        QR(y0, y5, y10, y15) QR(y1, y6, y11, y12) QR(y2, y7, y8, y13) QR(y3, y4, y9, y14)
    }
    x[0] += y0; x[1] += y1; x[2] += y2; x[3] += y3; x[4] += y4; x[5] += y5; x[6] += y6; x[7] += y7;
    x[8] += y8; x[9] += y9; x[10] += y10; x[11] += y11; x[12] += y12; x[13] += y13; x[14] += y14; x[15] += y15;
}

/* BlockMix, r = 1: Y0 = H(B1 ^ B0), Y1 = H(Y0 ^ B1) */
static ALWAYS_INLINE void blockmix(uint *X)
{
    uint t[16];
#pragma unroll
    for (int i = 0; i < 16; ++i) t[i] = X[i] ^ X[16 + i];
    chacha8(t);
#pragma unroll
    for (int i = 0; i < 16; ++i) { X[i] = t[i]; t[i] ^= X[16 + i]; }
    chacha8(t);
#pragma unroll
    for (int i = 0; i < 16; ++i) X[16 + i] = t[i];
}

__kernel void scrypt_labels(
    const ulong start,           /* index of work-item 0 */
    const ulong count,           /* work-items past count do nothing */
    const ulong c0, const ulong c1, const ulong c2, const ulong c3, /* commitment as u64 LE lanes */
    __global ulong *out,         /* 4 lanes (32 bytes) per work-item */
    const ulong items_per_buf,
    __global uint4 *V0, __global uint4 *V1, __global uint4 *V2, __global uint4 *V3,
    __global uint4 *V4, __global uint4 *V5, __global uint4 *V6, __global uint4 *V7)
{
    const ulong gid = get_global_id(0);
    if (gid >= count)
        return;
    const ulong buf = gid / items_per_buf;
    const ulong item = gid - buf * items_per_buf;
    __global uint4 *V = V0;
    if (buf == 1) V = V1;
    else if (buf == 2) V = V2;
    else if (buf == 3) V = V3;
    else if (buf == 4) V = V4;
    else if (buf == 5) V = V5;
    else if (buf == 6) V = V6;
    else if (buf == 7) V = V7;

    /* password = commitment ‖ u64 LE index ‖ 32 zero bytes = the HMAC key, one block */
    const ulong key[9] = {c0, c1, c2, c3, start + gid, 0, 0, 0, 0};
    ulong s[25];
    uint X[32], T[32];

    /* B = PBKDF2(pw, "", 128) = HMAC(pw, BE32(1)) ‖ HMAC(pw, BE32(2)) */
#pragma unroll 1
    for (uint blk = 0; blk < 2; ++blk) {
        hmac_pad(s, key, IPAD);
        s[0] ^= ((ulong)(blk + 1) << 24) | (1UL << 32); /* 00 00 00 k, then 0x01 padding */
        s[8] ^= PAD_END;
        keccak_f1600(s);
        hmac_outer(s, key);
#pragma unroll
        for (int m = 0; m < 8; ++m) {
            X[16 * blk + 2 * m] = (uint)s[m];
            X[16 * blk + 2 * m + 1] = (uint)(s[m] >> 32);
        }
    }

    /* ROMix phase 1: store every LOOKUP_GAP-th state */
    const ulong stride = items_per_buf * 8;
    __global uint4 *Vi = V + item * 8;
    for (uint i = 0; i < SCRYPT_N; ++i) {
        if (i % LOOKUP_GAP == 0) {
            __global uint4 *e = Vi + (ulong)(i / LOOKUP_GAP) * stride;
#pragma unroll
            for (int z = 0; z < 8; ++z)
                e[z] = (uint4)(X[4 * z], X[4 * z + 1], X[4 * z + 2], X[4 * z + 3]);
        }
        blockmix(X);
    }

    /* ROMix phase 2 */
    for (uint i = 0; i < SCRYPT_N; ++i) {
        const uint j = X[16] & (SCRYPT_N - 1);
        __global const uint4 *e = Vi + (ulong)(j / LOOKUP_GAP) * stride;
#pragma unroll
        for (int z = 0; z < 8; ++z) {
            const uint4 v = e[z];
            T[4 * z] = v.x; T[4 * z + 1] = v.y; T[4 * z + 2] = v.z; T[4 * z + 3] = v.w;
        }
#if LOOKUP_GAP > 1
        for (uint k = j % LOOKUP_GAP; k > 0; --k)
            blockmix(T);
#endif
#pragma unroll
        for (int w = 0; w < 32; ++w) X[w] ^= T[w];
        blockmix(X);
    }

    /* out = first 32 bytes of HMAC(pw, X ‖ BE32(1)); the 132-byte message takes two blocks */
    hmac_pad(s, key, IPAD);
#pragma unroll
    for (int m = 0; m < 9; ++m) s[m] ^= (ulong)X[2 * m] | ((ulong)X[2 * m + 1] << 32);
    keccak_f1600(s);
#pragma unroll
    for (int m = 0; m < 7; ++m) s[m] ^= (ulong)X[18 + 2 * m] | ((ulong)X[19 + 2 * m] << 32);
    s[7] ^= (1UL << 24) | (1UL << 32); /* BE32(1) at bytes 56..59, 0x01 at byte 60 */
    s[8] ^= PAD_END;
    keccak_f1600(s);
    hmac_outer(s, key);
#pragma unroll
    for (int m = 0; m < 4; ++m)
        out[gid * 4 + m] = s[m];
}
