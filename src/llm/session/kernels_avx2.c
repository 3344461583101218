/* AVX2 + FMA + F16C versions of the engine's small vector helpers (see kernels_simd.h). */
#include <immintrin.h>
#include <math.h>

/* no contraction into FMA beyond the explicit ones: the bits must be ggml's */
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#include "llm/session/kernels_simd.h"
#include "backend/cpu/transpose_avx2.h"

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Eight f16 (or, with bf16, bf16) values at y as f32; both conversions are exact. */
static inline __m256 load_half8(const uint16_t *y, bool bf16) {
    __m128i h = _mm_loadu_si128((const __m128i *)y);
    if (bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

static inline float half_to_f32(uint16_t v, bool bf16) {
    if (!bf16) return _cvtsh_ss(v);
    union {
        uint32_t u;
        float f;
    } b = {(uint32_t)v << 16};
    return b.f;
}

/* Finishes an f16 (bf16) dot from element i: runs of 16 into the two accumulators, a run of 8 into
 * a0, then the scalar tail; shared by the one-row and the many-row dots so their bits agree. */
static inline float dot_half_finish(const float *x, const uint16_t *y, int64_t i, int64_t n,
                                    __m256 a0, __m256 a1, bool bf16) {
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), load_half8(y + i, bf16), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), load_half8(y + i + 8, bf16), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), load_half8(y + i, bf16), a0);
    float s = hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += x[i] * half_to_f32(y[i], bf16);
    return s;
}

float llm_dot_f16_avx2(const float *x, const uint16_t *y, int64_t n) {
    return dot_half_finish(x, y, 0, n, _mm256_setzero_ps(), _mm256_setzero_ps(), false);
}

/* Rows of a decode product stream from memory one after the other; a prefetch 1 KiB ahead per
 * 64 bytes read keeps more lines in flight than the hardware prefetcher alone (SmolLM2 F16 tg128,
 * 1 thread: 27.2 -> 28.9 t/s, four interleaved runs). Two 8-lane accumulators take alternate runs
 * of 8 elements, as in the one-row dots, so the sums are their bits; f16 or bf16 rows. */
static inline void dot_rows_half(const float *x, const uint16_t *w, int64_t ls, int64_t rows,
                                 int64_t n, float *out, bool bf16) {
    enum { PF_BYTES = 1024 };
    for (int64_t j = 0; j < rows; j++) {
        const uint16_t *y = w + j * ls;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 32 <= n; i += 32) {
            _mm_prefetch((const char *)(y + i) + PF_BYTES, _MM_HINT_T0);
            for (int h = 0; h < 32; h += 16) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + h), load_half8(y + i + h, bf16), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + h + 8), load_half8(y + i + h + 8, bf16),
                                     a1);
            }
        }
        out[j] = dot_half_finish(x, y, i, n, a0, a1, bf16);
    }
}

void llm_dot_rows_f16_avx2(const float *x, const uint16_t *w, int64_t ls, int64_t rows, int64_t n,
                           float *out) {
    dot_rows_half(x, w, ls, rows, n, out, false);
}

float llm_dot_bf16_avx2(const float *x, const uint16_t *y, int64_t n) {
    return dot_half_finish(x, y, 0, n, _mm256_setzero_ps(), _mm256_setzero_ps(), true);
}

void llm_dot_rows_bf16_avx2(const float *x, const uint16_t *w, int64_t ls, int64_t rows, int64_t n,
                            float *out) {
    dot_rows_half(x, w, ls, rows, n, out, true);
}

void llm_axpy_f16_avx2(float *acc, float a, const uint16_t *y, int64_t n) {
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 y0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));
        _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(va, y0, _mm256_loadu_ps(acc + i)));
    }
    for (; i < n; i++) acc[i] = fmaf(_cvtsh_ss(y[i]), a, acc[i]);
}

float llm_dot_f32_avx2(const float *x, const float *y, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float s = hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

/* ggml's two dot orders (see kernels.c): TILE, one accumulator of 8 lanes; VEC, four over runs
 * of 32 with the tail added in double. q holds f32 values, k f16. */
static float tree8_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* tree8_ps of a[0..8) as one vector (lane u: a[u]'s sum), with the same additions in the same
 * order: halves added per key, then even + odd pairs, then the two pair sums. */
static inline __m256 tree8_x8(const __m256 a[8]) {
    __m256 h[4]; /* h[p] = [a(2p) lo + hi | a(2p + 1) lo + hi] */
    _Pragma("GCC unroll 4") for (int p = 0; p < 4; p++)
        h[p] = _mm256_add_ps(_mm256_permute2f128_ps(a[2 * p], a[2 * p + 1], 0x20),
                             _mm256_permute2f128_ps(a[2 * p], a[2 * p + 1], 0x31));
    /* per key (l0 + l2, l1 + l3): keys 0, 2 | 1, 3 and 4, 6 | 5, 7 */
    const __m256 u0 = _mm256_add_ps(_mm256_shuffle_ps(h[0], h[1], 0x44), _mm256_shuffle_ps(h[0], h[1], 0xEE));
    const __m256 u1 = _mm256_add_ps(_mm256_shuffle_ps(h[2], h[3], 0x44), _mm256_shuffle_ps(h[2], h[3], 0xEE));
    /* keys 0, 2, 4, 6 | 1, 3, 5, 7, then in order */
    const __m256 t = _mm256_add_ps(_mm256_shuffle_ps(u0, u1, 0x88), _mm256_shuffle_ps(u0, u1, 0xDD));
    return _mm256_permutevar8x32_ps(t, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static inline float kq_dot_vec(const float *q, const uint16_t *k, int64_t n) {
    __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const int64_t np = n & ~(int64_t)31;
    for (int64_t i = 0; i < np; i += 32)
        for (int j = 0; j < 4; j++)
            a[j] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i + 8 * j))),
                                   _mm256_loadu_ps(q + i + 8 * j), a[j]);
    __m256 x = _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3]));
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    t = _mm_hadd_ps(t, t);
    double r = _mm_cvtss_f32(_mm_hadd_ps(t, t));
    for (int64_t i = np; i < n; i++) r += (double)(_cvtsh_ss(k[i]) * q[i]);
    return (float)r;
}

float llm_kq_dot_f16_avx2(const float *q, const uint16_t *k, int64_t n, int tile) {
    if (tile) {
        __m256 acc = _mm256_setzero_ps();
        for (int64_t i = 0; i + 8 <= n; i += 8)
            acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i))),
                                  _mm256_loadu_ps(q + i), acc);
        return tree8_ps(acc);
    }
    return kq_dot_vec(q, k, n);
}

float llm_kq_scores_vec_f16_avx2(const float *q, const uint16_t *k, int64_t d, int64_t n_kv, float scale,
                                 float *sc) {
    float mx = -INFINITY;
    for (int64_t j = 0; j < n_kv; j++) {
        sc[j] = kq_dot_vec(q, k + j * d, d) * scale;
        if (sc[j] > mx) mx = sc[j];
    }
    return mx;
}

/* ggml's vectorized e^x on 8 lanes (the same operations as llm_expf in kernels.c). */
static __m256 expf8(__m256 x) {
    const __m256 shift = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
    const __m256 n = _mm256_sub_ps(z, shift);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
    const __m256 absn = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    const __m256 big = _mm256_cmp_ps(absn, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 p = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    const __m256 normal = _mm256_fmadd_ps(p, k, k);
    if (!_mm256_movemask_ps(big)) return normal;
    const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32((int)0x82000000u));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    const __m256 huge = _mm256_cmp_ps(absn, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    const __m256 scaled = _mm256_mul_ps(_mm256_fmadd_ps(s2, p, s2), s1);
    const __m256 r = _mm256_blendv_ps(normal, scaled, big);
    return _mm256_blendv_ps(r, _mm256_mul_ps(s1, s1), huge);
}

double llm_softmax_exp_avx2(float *x, int64_t n, float mx) {
    double sum = 0.0;
    const __m256 m = _mm256_set1_ps(mx);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = expf8(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        _mm256_storeu_ps(x + i, e);
        sum += (double)tree8_ps(e);
    }
    if (i < n) { /* the last run: zeros beyond n, as masked positions give */
        float buf[8] = {0};
        for (int64_t j = i; j < n; j++) buf[j - i] = x[j] - mx;
        __m256 e = expf8(_mm256_loadu_ps(buf));
        __m256 keep = _mm256_cmp_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7),
                                    _mm256_set1_ps((float)(n - i)), _CMP_LT_OQ);
        e = _mm256_and_ps(e, keep);
        _mm256_storeu_ps(buf, e);
        for (int64_t j = i; j < n; j++) x[j] = buf[j - i];
        sum += (double)tree8_ps(e);
    }
    return sum;
}

void llm_swiglu_avx2(float *gate, const float *up, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, expf8(_mm256_sub_ps(zero, g))));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) { /* ggml's tail: libm's expf */
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

/* ---- rotary embedding ------------------------------------------------------------------------- */

void llm_rope_head_avx2(float *v, const float *cs, int half, bool neox) {
    int i = 0;
    if (neox) { /* x0 = v[i], x1 = v[i + half] */
        for (; i + 8 <= half; i += 8) {
            /* (cos, sin) pairs of 8 rotations -> cos and sin vectors */
            const __m256 c0 = _mm256_loadu_ps(cs + 2 * i), c1 = _mm256_loadu_ps(cs + 2 * i + 8);
            const __m256 a = _mm256_permute2f128_ps(c0, c1, 0x20), b = _mm256_permute2f128_ps(c0, c1, 0x31);
            const __m256 co = _mm256_shuffle_ps(a, b, 0x88), si = _mm256_shuffle_ps(a, b, 0xDD);
            const __m256 x0 = _mm256_loadu_ps(v + i), x1 = _mm256_loadu_ps(v + i + half);
            _mm256_storeu_ps(v + i, _mm256_fmsub_ps(x0, co, _mm256_mul_ps(x1, si)));
            _mm256_storeu_ps(v + i + half, _mm256_fmadd_ps(x0, si, _mm256_mul_ps(x1, co)));
        }
        for (; i < half; i++) {
            const float x0 = v[i], x1 = v[i + half], co = cs[2 * i], si = cs[2 * i + 1];
            v[i] = fmaf(x0, co, -(x1 * si));
            v[i + half] = fmaf(x0, si, x1 * co);
        }
        return;
    }
    for (; i + 4 <= half; i += 4) { /* pairs (x0, x1) side by side, as (cos, sin) */
        const __m256 x = _mm256_loadu_ps(v + 2 * i), c = _mm256_loadu_ps(cs + 2 * i);
        /* even lanes x0 cos - x1 sin, odd lanes x0 sin + x1 cos, each x1 product rounded */
        const __m256 t = _mm256_mul_ps(_mm256_movehdup_ps(x), _mm256_permute_ps(c, 0xB1));
        _mm256_storeu_ps(v + 2 * i, _mm256_fmaddsub_ps(_mm256_moveldup_ps(x), c, t));
    }
    for (; i < half; i++) {
        const float x0 = v[2 * i], x1 = v[2 * i + 1], co = cs[2 * i], si = cs[2 * i + 1];
        v[2 * i] = fmaf(x0, co, -(x1 * si));
        v[2 * i + 1] = fmaf(x0, si, x1 * co);
    }
}

/* ---- f16 weight panels for the batched f16 product (linear_float.c) ------------------------- */

void llm_pack_f16_t16_avx2(int64_t kc, const uint16_t *s, int64_t ls, float *dst) {
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        /* sixteen rows read side by side are more streams than the hardware prefetcher follows:
         * each row's line two lines ahead is asked for once per line */
        if ((p & 31) == 0)
            for (int i = 0; i < 16; i++) _mm_prefetch((const char *)(s + i * ls + p + 64), _MM_HINT_T0);
        for (int g = 0; g < 2; g++) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + (g * 8 + i) * ls + p)));
            avx2_transpose8_ps(r);
            for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (p + q) * 16 + g * 8, r[q]);
        }
    }
    for (; p < kc; p++)
        for (int i = 0; i < 16; i++) dst[p * 16 + i] = _cvtsh_ss(s[i * ls + p]);
}

/* ---- batched attention in ggml's TILE order (see kernels.c) --------------------------------- */

void llm_kq_scores_tile_f16_avx2(const float *q, const uint16_t *k, int64_t d, int64_t n_kv, float scale,
                                 float *sc) {
    int64_t j = 0;
    for (; j + 8 <= n_kv; j += 8) { /* eight keys at once, their tree8 sums side by side */
        const uint16_t *kj = k + j * d;
        __m256 a[8];
        _Pragma("GCC unroll 8") for (int u = 0; u < 8; u++) a[u] = _mm256_setzero_ps();
        for (int64_t i = 0; i + 8 <= d; i += 8) {
            const __m256 qv = _mm256_loadu_ps(q + i);
            _Pragma("GCC unroll 8") for (int u = 0; u < 8; u++)
                a[u] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kj + u * d + i))), qv, a[u]);
        }
        _mm256_storeu_ps(sc + j, _mm256_mul_ps(tree8_x8(a), _mm256_set1_ps(scale)));
    }
    for (; j + 4 <= n_kv; j += 4) { /* four keys at once: four independent chains */
        const uint16_t *k0 = k + j * d, *k1 = k0 + d, *k2 = k1 + d, *k3 = k2 + d;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t i = 0; i + 8 <= d; i += 8) {
            const __m256 qv = _mm256_loadu_ps(q + i);
            a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k0 + i))), qv, a0);
            a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k1 + i))), qv, a1);
            a2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k2 + i))), qv, a2);
            a3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k3 + i))), qv, a3);
        }
        sc[j] = tree8_ps(a0) * scale;
        sc[j + 1] = tree8_ps(a1) * scale;
        sc[j + 2] = tree8_ps(a2) * scale;
        sc[j + 3] = tree8_ps(a3) * scale;
    }
    for (; j < n_kv; j++) sc[j] = llm_kq_dot_f16_avx2(q, k + j * d, d, 1) * scale;
}

/* tree8_ps of a[0..4) in lanes 0..3, the same additions in the same order as tree8_x8. */
static inline __m128 tree8_x4(const __m256 a[4]) {
    const __m256 h0 = _mm256_add_ps(_mm256_permute2f128_ps(a[0], a[1], 0x20), _mm256_permute2f128_ps(a[0], a[1], 0x31));
    const __m256 h1 = _mm256_add_ps(_mm256_permute2f128_ps(a[2], a[3], 0x20), _mm256_permute2f128_ps(a[2], a[3], 0x31));
    const __m256 u = _mm256_add_ps(_mm256_shuffle_ps(h0, h1, 0x44), _mm256_shuffle_ps(h0, h1, 0xEE));
    const __m256 t = _mm256_add_ps(_mm256_shuffle_ps(u, u, 0x88), _mm256_shuffle_ps(u, u, 0xDD));
    return _mm256_castps256_ps128(_mm256_permutevar8x32_ps(t, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

/* KG keys x NH heads of scores from one pass over the keys' rows: acc[key * NH + head]. */
static inline __attribute__((always_inline)) void kq_heads_group(const int NH, const int KG, const float *const *q,
                                                                const uint16_t *kj, int64_t d, float scale,
                                                                float *const *sc, int64_t j) {
    __m256 a[12];
    _Pragma("GCC unroll 12") for (int i = 0; i < NH * KG; i++) a[i] = _mm256_setzero_ps();
    for (int64_t i = 0; i + 8 <= d; i += 8)
        _Pragma("GCC unroll 4") for (int u = 0; u < KG; u++) {
            const __m256 kv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kj + u * d + i)));
            _Pragma("GCC unroll 4") for (int h = 0; h < NH; h++)
                a[u * NH + h] = _mm256_fmadd_ps(kv, _mm256_loadu_ps(q[h] + i), a[u * NH + h]);
        }
    float r[12];
    const __m256 vs = _mm256_set1_ps(scale);
    _mm256_storeu_ps(r, _mm256_mul_ps(tree8_x8(a), vs));
    if (NH * KG > 8) _mm_storeu_ps(r + 8, _mm_mul_ps(tree8_x4(a + 8), _mm256_castps256_ps128(vs)));
    _Pragma("GCC unroll 4") for (int u = 0; u < KG; u++)
        _Pragma("GCC unroll 4") for (int h = 0; h < NH; h++) sc[h][j + u] = r[u * NH + h];
}

void llm_kq_scores_tile_f16_heads_avx2(const float *const *q, int nh, const uint16_t *k, int64_t d, int64_t n_kv,
                                       float scale, float *const *sc) {
    const int kg = nh == 4 ? 2 : 4; /* 8 or 12 accumulators */
    int64_t j = 0;
    for (; j + kg <= n_kv; j += kg) {
        if (nh == 2) kq_heads_group(2, 4, q, k + j * d, d, scale, sc, j);
        else if (nh == 3) kq_heads_group(3, 4, q, k + j * d, d, scale, sc, j);
        else kq_heads_group(4, 2, q, k + j * d, d, scale, sc, j);
    }
    for (; j < n_kv; j++)
        for (int h = 0; h < nh; h++) sc[h][j] = llm_kq_dot_f16_avx2(q[h], k + j * d, d, 1) * scale;
}

float llm_max_avx2(const float *x, int64_t n) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(_mm256_loadu_ps(x + i), m); /* x > m ? x : m: NaNs skipped */
    float l[8], mx = -INFINITY;
    _mm256_storeu_ps(l, m);
    for (int k = 0; k < 8; k++)
        if (l[k] > mx) mx = l[k];
    for (; i < n; i++)
        if (x[i] > mx) mx = x[i];
    return mx;
}

void llm_scale_round_f16_avx2(float *x, int64_t n, float s) {
    const __m256 vs = _mm256_set1_ps(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs),
                                                                 _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++) x[i] = _cvtsh_ss(_cvtss_sh(x[i] * s, _MM_FROUND_TO_NEAREST_INT));
}

void llm_f32_to_f16_avx2(uint16_t *dst, const float *src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

void llm_round_f16_avx2(float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++) x[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

/* Runs keys [j0, j1) of P.V over the 8 columns at c into the slots sl (key j in slot j % 8, j0 a
 * multiple of 8), each product fused in key order. */
static inline void pv_slots(const float *p, const uint16_t *v, int64_t d, int64_t c, int64_t j0, int64_t j1,
                            __m256 sl[8]) {
#define VROW(j) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + (j) * d + c)))
    __m256 s0 = sl[0], s1 = sl[1], s2 = sl[2], s3 = sl[3], s4 = sl[4], s5 = sl[5], s6 = sl[6], s7 = sl[7];
    int64_t j = j0;
    for (; j + 8 <= j1; j += 8) {
        s0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), VROW(j), s0);
        s1 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 1), VROW(j + 1), s1);
        s2 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 2), VROW(j + 2), s2);
        s3 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 3), VROW(j + 3), s3);
        s4 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 4), VROW(j + 4), s4);
        s5 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 5), VROW(j + 5), s5);
        s6 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 6), VROW(j + 6), s6);
        s7 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 7), VROW(j + 7), s7);
    }
    const int64_t r = j1 - j;
    if (r > 0) s0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), VROW(j), s0);
    if (r > 1) s1 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 1), VROW(j + 1), s1);
    if (r > 2) s2 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 2), VROW(j + 2), s2);
    if (r > 3) s3 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 3), VROW(j + 3), s3);
    if (r > 4) s4 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 4), VROW(j + 4), s4);
    if (r > 5) s5 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 5), VROW(j + 5), s5);
    if (r > 6) s6 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + 6), VROW(j + 6), s6);
    sl[0] = s0, sl[1] = s1, sl[2] = s2, sl[3] = s3, sl[4] = s4, sl[5] = s5, sl[6] = s6, sl[7] = s7;
#undef VROW
}

void llm_pv_tile_f16_avx2(const float *p, const uint16_t *v, int64_t d, int64_t n_kv, float *o) {
    /* 64 columns at a time, their keys in blocks of 128 (16 KB of V, which stays in L1 while each
     * 8-column pass reads it; a pass over all the keys at once read every row from L2 eight
     * times): the same products in the same order, the 8 slots of a pass saved between blocks
     * (P.V of SmolLM2's pp512 23% less thread time, bits unchanged) */
    enum { KEYS = 128, COLS = 64 };
    for (int64_t g = 0; g < d; g += COLS) {
        const int64_t ge = g + COLS < d ? g + COLS : d;
        __m256 st[COLS / 8][8];
        for (int64_t c = g; c + 8 <= ge; c += 8)
            for (int k = 0; k < 8; k++) st[(c - g) / 8][k] = _mm256_setzero_ps();
        for (int64_t j0 = 0; j0 < n_kv; j0 += KEYS) {
            const int64_t j1 = j0 + KEYS < n_kv ? j0 + KEYS : n_kv;
            for (int64_t c = g; c + 8 <= ge; c += 8) pv_slots(p, v, d, c, j0, j1, st[(c - g) / 8]);
        }
        for (int64_t c = g; c + 8 <= ge; c += 8) {
            /* tree8 over the slots, lane by lane: ((4 + 0) + (6 + 2)) + ((5 + 1) + (7 + 3)) */
            const __m256 *sl = st[(c - g) / 8];
            const __m256 h0 = _mm256_add_ps(sl[4], sl[0]), h1 = _mm256_add_ps(sl[5], sl[1]),
                         h2 = _mm256_add_ps(sl[6], sl[2]), h3 = _mm256_add_ps(sl[7], sl[3]);
            _mm256_storeu_ps(o + c, _mm256_add_ps(_mm256_add_ps(h0, h2), _mm256_add_ps(h1, h3)));
        }
    }
}

/* NH heads' P.V over the CH 8-column chunks at c0 of keys [j0, j1) (j0 a multiple of 8), the V
 * row's chunks converted once for all heads: slot by slot (key j in slot j % 8), each slot's
 * products fused in key order as llm_pv_tile_f16_avx2 fuses them. st: [8][NH][CH] slots. */
static inline __attribute__((always_inline)) void pv_heads_block(const int NH, const int CH, const float *const *p,
                                                                const uint16_t *v, int64_t d, int64_t c0,
                                                                int64_t j0, int64_t j1, __m256 *st) {
    for (int s = 0; s < 8; s++) {
        __m256 acc[4][4], *sl = st + s * NH * CH;
        _Pragma("GCC unroll 4") for (int h = 0; h < NH; h++)
            _Pragma("GCC unroll 4") for (int ch = 0; ch < CH; ch++) acc[h][ch] = sl[h * CH + ch];
        for (int64_t j = j0 + s; j < j1; j += 8) {
            const uint16_t *vr = v + j * d + c0;
            __m256 pb[4];
            _Pragma("GCC unroll 4") for (int h = 0; h < NH; h++) pb[h] = _mm256_broadcast_ss(p[h] + j);
            _Pragma("GCC unroll 4") for (int ch = 0; ch < CH; ch++) {
                const __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vr + 8 * ch)));
                _Pragma("GCC unroll 4") for (int h = 0; h < NH; h++) acc[h][ch] = _mm256_fmadd_ps(pb[h], vv, acc[h][ch]);
            }
        }
        _Pragma("GCC unroll 4") for (int h = 0; h < NH; h++)
            _Pragma("GCC unroll 4") for (int ch = 0; ch < CH; ch++) sl[h * CH + ch] = acc[h][ch];
    }
}

static void pv_heads_block_any(int nh, int ch, const float *const *p, const uint16_t *v, int64_t d, int64_t c0,
                               int64_t j0, int64_t j1, __m256 *st) {
    if (ch == 1) {
        if (nh == 2) pv_heads_block(2, 1, p, v, d, c0, j0, j1, st);
        else if (nh == 3) pv_heads_block(3, 1, p, v, d, c0, j0, j1, st);
        else pv_heads_block(4, 1, p, v, d, c0, j0, j1, st);
    } else if (nh == 2) {
        pv_heads_block(2, 4, p, v, d, c0, j0, j1, st);
    } else if (nh == 3) {
        pv_heads_block(3, 4, p, v, d, c0, j0, j1, st);
    } else {
        pv_heads_block(4, 3, p, v, d, c0, j0, j1, st);
    }
}

void llm_pv_tile_f16_heads_avx2(const float *const *p, int nh, const uint16_t *v, int64_t d, int64_t n_kv,
                                float *const *o) {
    /* chunks per pass: NH x CH accumulators stay in registers beside the converted chunk and the
     * heads' probabilities; the keys in blocks of 128 so a pass's V rows stay in L1 */
    enum { KEYS = 128 };
    const int full = nh == 4 ? 3 : 4;
    for (int64_t c0 = 0; c0 + 8 <= d;) {
        const int ch = d - c0 >= 8 * full ? full : 1;
        __m256 st[8 * 4 * 4];
        for (int i = 0; i < 8 * nh * ch; i++) st[i] = _mm256_setzero_ps();
        for (int64_t j0 = 0; j0 < n_kv; j0 += KEYS)
            pv_heads_block_any(nh, ch, p, v, d, c0, j0, j0 + KEYS < n_kv ? j0 + KEYS : n_kv, st);
        for (int h = 0; h < nh; h++)
            for (int k = 0; k < ch; k++) {
                /* tree8 over the slots, lane by lane: ((4 + 0) + (6 + 2)) + ((5 + 1) + (7 + 3)) */
                __m256 sl[8];
                for (int s = 0; s < 8; s++) sl[s] = st[(s * nh + h) * ch + k];
                const __m256 h0 = _mm256_add_ps(sl[4], sl[0]), h1 = _mm256_add_ps(sl[5], sl[1]),
                             h2 = _mm256_add_ps(sl[6], sl[2]), h3 = _mm256_add_ps(sl[7], sl[3]);
                _mm256_storeu_ps(o[h] + c0 + 8 * k, _mm256_add_ps(_mm256_add_ps(h0, h2), _mm256_add_ps(h1, h3)));
            }
        c0 += 8 * ch;
    }
}

void llm_pv_vec_f16_avx2(const float *p, const uint16_t *v, int64_t d, int64_t n_kv, float *o) {
#define VROW(j) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + (j) * d + c)))
#define SLOT(i) s##i = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j + i), VROW(j + i), s##i)
    for (int64_t c = 0; c + 8 <= d; c += 8) {
        /* slot 8 g + i holds the keys j with j % 32 == 8 g + i, each product fused in key order;
         * the 32 slots of these 8 elements are made 8 at a time in registers */
        __m256 sl[32];
        for (int g = 0; g < 4; g++) {
            __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
            int64_t j = 8 * g;
            for (; j + 8 <= n_kv; j += 32) {
                SLOT(0); SLOT(1); SLOT(2); SLOT(3); SLOT(4); SLOT(5); SLOT(6); SLOT(7);
            }
            const int64_t r = n_kv - j; /* the last run's keys in this group, if any */
            if (r > 0) SLOT(0);
            if (r > 1) SLOT(1);
            if (r > 2) SLOT(2);
            if (r > 3) SLOT(3);
            if (r > 4) SLOT(4);
            if (r > 5) SLOT(5);
            if (r > 6) SLOT(6);
            sl[8 * g] = s0, sl[8 * g + 1] = s1, sl[8 * g + 2] = s2, sl[8 * g + 3] = s3;
            sl[8 * g + 4] = s4, sl[8 * g + 5] = s5, sl[8 * g + 6] = s6, sl[8 * g + 7] = s7;
        }
        /* tree32 over the slots, lane by lane: x_l = (s_l + s_16+l) + (s_8+l + s_24+l), then
         * (x0 + x4) + (x1 + x5) and (x2 + x6) + (x3 + x7) added */
        __m256 x[8];
        for (int l = 0; l < 8; l++)
            x[l] = _mm256_add_ps(_mm256_add_ps(sl[l], sl[16 + l]), _mm256_add_ps(sl[8 + l], sl[24 + l]));
        const __m256 t0 = _mm256_add_ps(x[0], x[4]), t1 = _mm256_add_ps(x[1], x[5]),
                     t2 = _mm256_add_ps(x[2], x[6]), t3 = _mm256_add_ps(x[3], x[7]);
        _mm256_storeu_ps(o + c, _mm256_add_ps(_mm256_add_ps(t0, t1), _mm256_add_ps(t2, t3)));
    }
#undef SLOT
#undef VROW
}
