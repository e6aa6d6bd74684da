/*
 * The compiled kernel of the PoET proof of sequential work (spec/poet.md §1.2-§1.3).
 *
 * Built at first use by core/poet/native.py and called through ctypes; the plain-Python
 * reference in core/poet/posw.py defines the semantics and the tests compare the two.
 *
 * Nearly all the work is the label chain: h = SHA256(h), 399 times per leaf.  For a 32-byte
 * message the padded block is the previous digest followed by a constant tail, so the chain is
 * one compression per step with the digest words fed straight back as message words (no byte
 * swapping, no buffering).  Three implementations of the compression, chosen per call:
 *   IMPL_PORTABLE  plain C, any CPU;
 *   IMPL_SHANI     x86 SHA extensions (compiled with a target attribute, used only when CPUID
 *                  reports SHA + SSSE3 + SSE4.1; -DPOSW_NO_SHANI leaves it out for old compilers);
 *   IMPL_EXTERNAL  a SHA256_Transform-compatible function handed in from Python (OpenSSL's
 *                  libcrypto, which has its own SHA-NI / ARMv8 / AVX2 code paths).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define IMPL_PORTABLE 0
#define IMPL_SHANI 1
#define IMPL_EXTERNAL 2

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t IV256[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static uint32_t load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---------------------------------------------------------------------------------------- */
/* Portable compression                                                                     */

/* 64 rounds over w[0..15] (w[16..63] are filled in here), added into st. */
static void rounds_portable(uint32_t st[8], uint32_t w[64]) {
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = ROTR(w[t - 15], 7) ^ ROTR(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = ROTR(w[t - 2], 17) ^ ROTR(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + K256[t] + w[t];
        uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

static void compress_portable(uint32_t st[8], const uint8_t *p, size_t nblocks) {
    uint32_t w[64];
    for (; nblocks; nblocks--, p += 64) {
        for (int i = 0; i < 16; i++) w[i] = load_be32(p + 4 * i);
        rounds_portable(st, w);
    }
}

/* digest <- SHA256(digest), `iterations` times. */
static void chain_portable(uint8_t digest[32], uint64_t iterations) {
    uint32_t m[8], w[64];
    for (int i = 0; i < 8; i++) m[i] = load_be32(digest + 4 * i);
    for (; iterations; iterations--) {
        uint32_t st[8];
        memcpy(st, IV256, sizeof st);
        memcpy(w, m, sizeof m);
        w[8] = 0x80000000u;
        for (int i = 9; i < 15; i++) w[i] = 0;
        w[15] = 256;
        rounds_portable(st, w);
        memcpy(m, st, sizeof m);
    }
    for (int i = 0; i < 8; i++) store_be32(digest + 4 * i, m[i]);
}

/* ---------------------------------------------------------------------------------------- */
/* External SHA256_Transform (OpenSSL's low-level block function)                          */

typedef void (*transform_fn)(void *ctx, const unsigned char *block);
static transform_fn external_transform = NULL;

/* SHA256_CTX begins with h[8]; the block function touches nothing else.  The rest is room. */
typedef struct {
    uint32_t h[8];
    uint32_t rest[24];
} ext_ctx;

static void compress_external(uint32_t st[8], const uint8_t *p, size_t nblocks) {
    ext_ctx c;
    memcpy(c.h, st, 32);
    for (; nblocks; nblocks--, p += 64) external_transform(&c, p);
    memcpy(st, c.h, 32);
}

static void chain_external(uint8_t digest[32], uint64_t iterations) {
    uint8_t block[64];
    ext_ctx c;
    memcpy(block, digest, 32);
    memset(block + 32, 0, 32);
    block[32] = 0x80;
    block[62] = 0x01; /* bit length 256, big-endian */
    for (; iterations; iterations--) {
        memcpy(c.h, IV256, 32);
        external_transform(&c, block);
        for (int i = 0; i < 8; i++) store_be32(block + 4 * i, c.h[i]);
    }
    memcpy(digest, block, 32);
}

/* ---------------------------------------------------------------------------------------- */
/* x86 SHA extensions                                                                       */

#if (defined(__x86_64__) || defined(__i386__)) && !defined(POSW_NO_SHANI)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHANI_CODE 1
#define SHANI __attribute__((target("sha,sse4.1,ssse3")))

/* Four rounds: state in ABEF/CDGH form, `m` the four message words of this group. */
#define R4(m, k)                                                                   \
    do {                                                                           \
        __m128i msg_ = _mm_add_epi32((m), _mm_loadu_si128((const __m128i *)&K256[k])); \
        s1 = _mm_sha256rnds2_epu32(s1, s0, msg_);                                  \
        msg_ = _mm_shuffle_epi32(msg_, 0x0E);                                      \
        s0 = _mm_sha256rnds2_epu32(s0, s1, msg_);                                  \
    } while (0)

/* Next schedule group into `a` from the previous four groups a, b, c, d (oldest first). */
#define SCHED(a, b, c, d)                                                          \
    a = _mm_sha256msg2_epu32(                                                      \
        _mm_add_epi32(_mm_sha256msg1_epu32(a, b), _mm_alignr_epi8(d, c, 4)), d)

SHANI static inline void rounds_shani(__m128i *state0, __m128i *state1, __m128i m0, __m128i m1, __m128i m2,
                                      __m128i m3) {
    __m128i s0 = *state0, s1 = *state1;
    R4(m0, 0);
    R4(m1, 4);
    R4(m2, 8);
    R4(m3, 12);
    for (int k = 16; k < 64; k += 16) {
        SCHED(m0, m1, m2, m3);
        R4(m0, k);
        SCHED(m1, m2, m3, m0);
        R4(m1, k + 4);
        SCHED(m2, m3, m0, m1);
        R4(m2, k + 8);
        SCHED(m3, m0, m1, m2);
        R4(m3, k + 12);
    }
    *state0 = s0;
    *state1 = s1;
}

SHANI static inline __m128i bswap32x4(__m128i x) {
    return _mm_shuffle_epi8(x, _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3));
}

/* [a,b,c,d], [e,f,g,h] (lane 0 first) -> ABEF = [f,e,b,a], CDGH = [h,g,d,c]. */
SHANI static inline void to_abef(__m128i abcd, __m128i efgh, __m128i *s0, __m128i *s1) {
    __m128i x = _mm_shuffle_epi32(abcd, 0xB1); /* b a d c */
    __m128i y = _mm_shuffle_epi32(efgh, 0xB1); /* f e h g */
    *s0 = _mm_unpacklo_epi64(y, x);
    *s1 = _mm_unpackhi_epi64(y, x);
}

SHANI static inline void from_abef(__m128i s0, __m128i s1, __m128i *abcd, __m128i *efgh) {
    *abcd = _mm_shuffle_epi32(_mm_unpackhi_epi64(s0, s1), 0xB1);
    *efgh = _mm_shuffle_epi32(_mm_unpacklo_epi64(s0, s1), 0xB1);
}

SHANI static void compress_shani(uint32_t st[8], const uint8_t *p, size_t nblocks) {
    __m128i s0, s1;
    to_abef(_mm_loadu_si128((const __m128i *)st), _mm_loadu_si128((const __m128i *)(st + 4)), &s0, &s1);
    for (; nblocks; nblocks--, p += 64) {
        __m128i save0 = s0, save1 = s1;
        rounds_shani(&s0, &s1, bswap32x4(_mm_loadu_si128((const __m128i *)p)),
                     bswap32x4(_mm_loadu_si128((const __m128i *)(p + 16))),
                     bswap32x4(_mm_loadu_si128((const __m128i *)(p + 32))),
                     bswap32x4(_mm_loadu_si128((const __m128i *)(p + 48))));
        s0 = _mm_add_epi32(s0, save0);
        s1 = _mm_add_epi32(s1, save1);
    }
    __m128i abcd, efgh;
    from_abef(s0, s1, &abcd, &efgh);
    _mm_storeu_si128((__m128i *)st, abcd);
    _mm_storeu_si128((__m128i *)(st + 4), efgh);
}

SHANI static void chain_shani(uint8_t digest[32], uint64_t iterations) {
    const __m128i iv0 = _mm_set_epi32((int)IV256[0], (int)IV256[1], (int)IV256[4], (int)IV256[5]);
    const __m128i iv1 = _mm_set_epi32((int)IV256[2], (int)IV256[3], (int)IV256[6], (int)IV256[7]);
    const __m128i tail0 = _mm_set_epi32(0, 0, 0, (int)0x80000000u); /* w8..w11 */
    const __m128i tail1 = _mm_set_epi32(256, 0, 0, 0);               /* w12..w15 */
    __m128i m0 = bswap32x4(_mm_loadu_si128((const __m128i *)digest));
    __m128i m1 = bswap32x4(_mm_loadu_si128((const __m128i *)(digest + 16)));
    for (; iterations; iterations--) {
        __m128i s0 = iv0, s1 = iv1;
        rounds_shani(&s0, &s1, m0, m1, tail0, tail1);
        s0 = _mm_add_epi32(s0, iv0);
        s1 = _mm_add_epi32(s1, iv1);
        from_abef(s0, s1, &m0, &m1);
    }
    _mm_storeu_si128((__m128i *)digest, bswap32x4(m0));
    _mm_storeu_si128((__m128i *)(digest + 16), bswap32x4(m1));
}

static int cpu_has_shani(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & bit_SSSE3) || !(c & bit_SSE4_1)) return 0;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 29) & 1;
}
#else
#define HAVE_SHANI_CODE 0
#endif

/* ---------------------------------------------------------------------------------------- */
/* Dispatch and a streaming SHA-256 over the chosen compression                             */

typedef void (*compress_fn)(uint32_t st[8], const uint8_t *p, size_t nblocks);
typedef void (*chain_fn)(uint8_t digest[32], uint64_t iterations);

typedef struct {
    compress_fn compress;
    chain_fn chain;
} impl_t;

static int get_impl(int which, impl_t *out) {
    switch (which) {
    case IMPL_PORTABLE:
        out->compress = compress_portable;
        out->chain = chain_portable;
        return 0;
#if HAVE_SHANI_CODE
    case IMPL_SHANI:
        if (!cpu_has_shani()) return -1;
        out->compress = compress_shani;
        out->chain = chain_shani;
        return 0;
#endif
    case IMPL_EXTERNAL:
        if (!external_transform) return -1;
        out->compress = compress_external;
        out->chain = chain_external;
        return 0;
    default:
        return -1;
    }
}

typedef struct {
    uint32_t h[8];
    uint8_t buf[64];
    size_t fill;
    uint64_t total;
    compress_fn compress;
} sha_ctx;

static void sha_init(sha_ctx *c, compress_fn compress) {
    memcpy(c->h, IV256, sizeof c->h);
    c->fill = 0;
    c->total = 0;
    c->compress = compress;
}

static void sha_update(sha_ctx *c, const uint8_t *p, size_t n) {
    c->total += n;
    if (c->fill) {
        size_t take = 64 - c->fill < n ? 64 - c->fill : n;
        memcpy(c->buf + c->fill, p, take);
        c->fill += take;
        p += take;
        n -= take;
        if (c->fill < 64) return;
        c->compress(c->h, c->buf, 1);
        c->fill = 0;
    }
    if (n >= 64) {
        c->compress(c->h, p, n / 64);
        p += n & ~(size_t)63;
        n &= 63;
    }
    memcpy(c->buf, p, n);
    c->fill = n;
}

static void sha_final(sha_ctx *c, uint8_t out[32]) {
    uint64_t bits = c->total * 8;
    c->buf[c->fill++] = 0x80;
    if (c->fill > 56) {
        memset(c->buf + c->fill, 0, 64 - c->fill);
        c->compress(c->h, c->buf, 1);
        c->fill = 0;
    }
    memset(c->buf + c->fill, 0, 56 - c->fill);
    for (int i = 0; i < 8; i++) c->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    c->compress(c->h, c->buf, 1);
    for (int i = 0; i < 8; i++) store_be32(out + 4 * i, c->h[i]);
}

/* ---------------------------------------------------------------------------------------- */
/* Exported functions (see native.py for the ctypes signatures)                             */

/* Register a SHA256_Transform-compatible function for IMPL_EXTERNAL (NULL clears it). */
void posw_set_external(void *fn) { external_transform = (transform_fn)fn; }

/* 0 when `impl` can run on this CPU / in this process. */
int posw_impl_available(int impl) {
    impl_t f;
    return get_impl(impl, &f);
}

/* out = SHA256(msg). */
int posw_sha256(int impl, const uint8_t *msg, size_t len, uint8_t out[32]) {
    impl_t f;
    sha_ctx c;
    if (get_impl(impl, &f)) return -1;
    sha_init(&c, f.compress);
    sha_update(&c, msg, len);
    sha_final(&c, out);
    return 0;
}

/* digest <- SHA256(digest), `iterations` times. */
int posw_chain(int impl, uint8_t digest[32], uint64_t iterations) {
    impl_t f;
    if (get_impl(impl, &f)) return -1;
    f.chain(digest, iterations);
    return 0;
}

/* out = LH(data) = SHA256 chained `depth` times over statement || data. */
int posw_label_hash(int impl, const uint8_t *stmt, size_t stmt_len, const uint8_t *data, size_t data_len,
                    uint32_t depth, uint8_t out[32]) {
    impl_t f;
    sha_ctx c;
    if (depth < 1 || get_impl(impl, &f)) return -1;
    sha_init(&c, f.compress);
    sha_update(&c, stmt, stmt_len);
    sha_update(&c, data, data_len);
    sha_final(&c, out);
    f.chain(out, depth - 1);
    return 0;
}

/*
 * Add leaves start .. start+count-1 to the incremental tree.
 *
 * `parked` holds 64 slots of 32 bytes; slot h is meaningful iff bit h of the current leaf
 * count is set (a layer's parking slot is full exactly when its width is odd).  Every node
 * completed at height h is written to out + 32 * (offsets[h] + (j - (start >> h))), where j is
 * its index in layer h; offsets come from native.layer_offsets().
 */
int posw_extend(int impl, const uint8_t *stmt, size_t stmt_len, uint32_t depth, uint64_t start, uint64_t count,
                uint8_t *parked, uint8_t *out, const uint64_t *offsets) {
    impl_t f;
    if (depth < 1 || get_impl(impl, &f)) return -1;
    for (uint64_t k = 0; k < count; k++) {
        uint64_t i = start + k;
        uint8_t node[32], be[8];
        sha_ctx c;
        sha_init(&c, f.compress);
        sha_update(&c, stmt, stmt_len);
        for (int b = 0; b < 8; b++) be[b] = (uint8_t)(i >> (56 - 8 * b));
        sha_update(&c, be, 8);
        for (int h = 0; h < 64; h++)
            if ((i >> h) & 1) sha_update(&c, parked + 32 * h, 32);
        sha_final(&c, node);
        f.chain(node, depth - 1);

        int h = 0;
        memcpy(out + 32 * (offsets[0] + (i - start)), node, 32);
        while (h < 63 && ((i >> h) & 1)) {
            sha_init(&c, f.compress);
            sha_update(&c, stmt, stmt_len);
            sha_update(&c, parked + 32 * h, 32);
            sha_update(&c, node, 32);
            sha_final(&c, node);
            h++;
            memcpy(out + 32 * (offsets[h] + ((i >> h) - (start >> h))), node, 32);
        }
        memcpy(parked + 32 * h, node, 32);
    }
    return 0;
}
