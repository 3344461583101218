/* AVX2 packing of a convolution's im2col matrix straight from the image (conv_pack.h). Without
 * padding and with a horizontal stride of 1, eight consecutive output positions read at most a few
 * runs of consecutive pixels (one per output row they touch), so each 8-lane vector is one
 * unaligned load, or a few masked loads OR-ed together; other geometries gather. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/conv_pack.h"
#include "backend/cpu/scratch.h"
#include "backend/cpu/transpose_avx2.h"

/* The positions [l, l + n) (n <= 8) as runs: lane i of run r reads base + shift[r] + i. */
typedef struct runs8 {
    int n;
    bool whole; /* one run over all 8 lanes: a plain load */
    int32_t shift[8];
    __m256i mask[8];
} runs8;

/* Lanes [0, n) with image offsets off[i] as runs of consecutive offsets. */
static inline void runs_from(const int32_t *off, int64_t n, runs8 *r) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    r->n = 0;
    r->whole = false;
    for (int64_t i = 0; i < n;) {
        int64_t e = i + 1;
        while (e < n && off[e] == off[e - 1] + 1) e++;
        r->shift[r->n] = off[i] - (int32_t)i;
        r->mask[r->n] = _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)e), lanes),
                                         _mm256_cmpgt_epi32(lanes, _mm256_set1_epi32((int)i - 1)));
        r->whole = r->n == 0 && i == 0 && e == 8; /* one run over all 8 lanes */
        r->n++;
        i = e;
    }
}

/* The positions [l, l + n) (n <= 8) of a unit-stride geometry without padding. */
static inline void runs_make(const conv_im2col *m, int64_t l, int64_t n, runs8 *r) {
    runs_from(m->pos_off + l, n, r);
}

static inline __m256 runs_load(const float *base, const runs8 *r) {
    if (r->whole) return _mm256_loadu_ps(base + r->shift[0]);
    __m256 v = _mm256_setzero_ps();
    for (int k = 0; k < r->n; k++)
        v = _mm256_or_ps(v, _mm256_maskload_ps(base + r->shift[k], r->mask[k]));
    return v;
}

/* The general case: two 8-lane gathers per step, masked where taps fall into the padding. */
static void pack_cols_gather(const conv_im2col *m, int64_t t0, int64_t kc, int64_t l0, int64_t nl,
                             float *dst) {
    const __m256i vh = _mm256_set1_epi32(m->h), vw = _mm256_set1_epi32(m->w);
    const __m256i minus1 = _mm256_set1_epi32(-1), lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 zero = _mm256_setzero_ps();
    for (int64_t q = 0; q * 16 < nl; q++) {
        int64_t jb = l0 + q * 16, count = nl - q * 16 < 16 ? nl - q * 16 : 16;
        __m256i off[2], py[2], px[2], live[2];
        for (int h = 0; h < 2; h++) {
            int64_t n = count - 8 * h;
            int32_t o[8] = {0}, y[8] = {0}, x[8] = {0};
            for (int64_t i = 0; i < n && i < 8; i++) {
                o[i] = m->pos_off[jb + 8 * h + i];
                y[i] = m->pos_y[jb + 8 * h + i];
                x[i] = m->pos_x[jb + 8 * h + i];
            }
            off[h] = _mm256_loadu_si256((const __m256i *)o);
            py[h] = _mm256_loadu_si256((const __m256i *)y);
            px[h] = _mm256_loadu_si256((const __m256i *)x);
            live[h] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n > 0 ? n : 0)), lanes);
        }
        float *d = dst + q * 16 * kc;
        for (int64_t t = 0; t < kc; t++) {
            __m256i so = _mm256_set1_epi32(m->tap_off[t0 + t]);
            __m256i sy = _mm256_set1_epi32(m->tap_y[t0 + t]);
            __m256i sx = _mm256_set1_epi32(m->tap_x[t0 + t]);
            for (int h = 0; h < 2; h++) {
                __m256i y = _mm256_add_epi32(py[h], sy), x = _mm256_add_epi32(px[h], sx);
                __m256i ok = _mm256_and_si256(_mm256_cmpgt_epi32(vh, y), _mm256_cmpgt_epi32(y, minus1));
                ok = _mm256_and_si256(ok, _mm256_and_si256(_mm256_cmpgt_epi32(vw, x),
                                                           _mm256_cmpgt_epi32(x, minus1)));
                ok = _mm256_and_si256(ok, live[h]);
                __m256 v = _mm256_mask_i32gather_ps(zero, m->img, _mm256_add_epi32(off[h], so),
                                                    _mm256_castsi256_ps(ok), 4);
                _mm256_store_ps(d + t * 16 + 8 * h, v);
            }
        }
    }
}

void cpu_conv_pack_cols_f32_avx2(const conv_im2col *m, int64_t t0, int64_t kc, int64_t l0,
                                 int64_t nl, float *dst) {
    if (!m->inside || !m->unit_stride) {
        pack_cols_gather(m, t0, kc, l0, nl, dst);
        return;
    }
    for (int64_t q = 0; q * 16 < nl; q++) {
        int64_t jb = l0 + q * 16, count = nl - q * 16 < 16 ? nl - q * 16 : 16;
        runs8 r[2];
        runs_make(m, jb, count < 8 ? count : 8, &r[0]);
        runs_make(m, jb + 8, count > 8 ? count - 8 : 0, &r[1]);
        float *d = dst + q * 16 * kc;
        for (int64_t t = 0; t < kc; t++) {
            const float *base = m->img + m->tap_off[t0 + t];
            _mm256_store_ps(d + t * 16, runs_load(base, &r[0]));
            _mm256_store_ps(d + t * 16 + 8, runs_load(base, &r[1]));
        }
    }
}

void cpu_conv_pack_taps_f32_avx2(const conv_im2col *m, int64_t t0, int64_t nt, int64_t l0,
                                 int64_t kc, float *dst) {
    if (!m->inside || !m->unit_stride) {
        cpu_conv_pack_taps_f32(m, t0, nt, l0, kc, dst);
        return;
    }
    /* the runs of each group of 8 positions, shared by all the panels */
    enum { GROUPS = 64 };
    runs8 runs[GROUPS];
    for (int64_t p0 = 0; p0 < kc; p0 += GROUPS * 8) {
        int64_t span = kc - p0 < GROUPS * 8 ? kc - p0 : GROUPS * 8;
        for (int64_t q = 0; q * 8 < span; q++)
            runs_make(m, l0 + p0 + q * 8, span - q * 8 < 8 ? span - q * 8 : 8, &runs[q]);
        for (int64_t pq = 0; pq * 6 < nt; pq++) {
            int64_t rows = nt - pq * 6 < 6 ? nt - pq * 6 : 6;
            const float *base[6];
            for (int64_t i = 0; i < rows; i++) base[i] = m->img + m->tap_off[t0 + pq * 6 + i];
            float *d = dst + pq * 6 * kc;
            for (int64_t q = 0; q * 8 < span; q++) {
                int64_t p = p0 + q * 8, n = span - q * 8 < 8 ? span - q * 8 : 8;
                __m256 v[8];
                for (int i = 0; i < 6; i++)
                    v[i] = i < rows ? runs_load(base[i], &runs[q]) : _mm256_setzero_ps();
                v[6] = v[7] = _mm256_setzero_ps();
                avx2_transpose8_ps(v); /* v[s]: the 6 taps (and 2 zeros) of position p + s */
                float *o = d + p * 6;
                for (int64_t s = 0; s + 1 < n; s++) /* 8 floats each; the next step overwrites 2 */
                    _mm256_storeu_ps(o + s * 6, v[s]);
                _mm_storeu_ps(o + (n - 1) * 6, _mm256_castps256_ps128(v[n - 1]));
                _mm_storel_pi((__m64 *)(void *)(o + (n - 1) * 6 + 4),
                              _mm256_extractf128_ps(v[n - 1], 1));
            }
        }
    }
}

/* ---- direct convolution for few taps ------------------------------------------------------- */

/* The runs of every group of 8 positions [8 q, 8 q + 8) of [0, l), in this thread's
 * CPU_SCRATCH_CONV_RUNS (64-byte aligned; runs8 holds vectors): computed once per call, or once
 * for all the calls on named tables (a depthwise convolution's every image and channel). */
static runs8 *runs_table(const conv_im2col *m, int64_t l) {
    static _Thread_local uint64_t kept_id; /* the tables and l of the runs in the slot */
    static _Thread_local int64_t kept_l;
    int64_t groups = (l + 7) / 8;
    runs8 *r = cpu_scratch(CPU_SCRATCH_CONV_RUNS, (size_t)(groups ? groups : 1) * sizeof(runs8));
    if (!r) return NULL;
    if (m->tables_id != 0 && m->tables_id == kept_id && l == kept_l) return r;
    for (int64_t q = 0; q < groups; q++) runs_make(m, q * 8, l - q * 8 < 8 ? l - q * 8 : 8, &r[q]);
    kept_id = m->tables_id;
    kept_l = l;
    return r;
}

/* Stores the 8 lanes of v at out[pos, pos + n), n <= 8. */
static inline void store_lanes(float *out, int64_t n, __m256 v) {
    if (n == 8) {
        _mm256_storeu_ps(out, v);
    } else if (n > 0) {
        float b[8];
        _mm256_storeu_ps(b, v);
        memcpy(out, b, (size_t)n * sizeof(float));
    }
}

/* One output channel (a depthwise convolution's group): 64 positions a step in 8 accumulators. */
enum { ONE_GROUPS = 8 };

static void forward_one_channel(const conv_im2col *m, int64_t taps, const float *w,
                                const float *bias, float *out, int64_t l, const runs8 *runs) {
    int64_t groups = (l + 7) / 8;
    const runs8 empty = {0};
    for (int64_t q0 = 0; q0 < groups; q0 += ONE_GROUPS) {
        const runs8 *r[ONE_GROUPS];
        for (int h = 0; h < ONE_GROUPS; h++)
            r[h] = q0 + h < groups ? &runs[q0 + h] : &empty;
        __m256 acc[ONE_GROUPS];
        for (int h = 0; h < ONE_GROUPS; h++)
            acc[h] = _mm256_setzero_ps();
        for (int64_t t = 0; t < taps; t++) {
            const float *base = m->img + m->tap_off[t];
            const __m256 wv = _mm256_broadcast_ss(w + t);
            for (int h = 0; h < ONE_GROUPS; h++)
                acc[h] = _mm256_fmadd_ps(wv, runs_load(base, r[h]), acc[h]);
        }
        for (int h = 0; h < ONE_GROUPS; h++) {
            int64_t pos = (q0 + h) * 8;
            __m256 v = bias ? _mm256_add_ps(acc[h], _mm256_broadcast_ss(bias)) : acc[h];
            store_lanes(out + pos, l - pos < 8 ? l - pos : 8, v);
        }
    }
}

/* Tiles of 4 output channels x 16 positions, 8 accumulators; channels past cout repeat the last
 * one and are not stored. A single channel takes forward_one_channel (the same operations). */
bool cpu_conv_direct_forward_f32_avx2(const conv_im2col *m, int64_t taps, const float *w,
                                      int64_t cout, const float *bias, float *out, int64_t l) {
    runs8 *runs = runs_table(m, l);
    if (!runs) return false;
    if (cout == 1) {
        forward_one_channel(m, taps, w, bias, out, l, runs);
        return true;
    }
    int64_t groups = (l + 7) / 8;
    const runs8 empty = {0};
    for (int64_t q = 0; q < groups; q += 2) {
        const runs8 *r0 = &runs[q], *r1 = q + 1 < groups ? &runs[q + 1] : &empty;
        for (int64_t co0 = 0; co0 < cout; co0 += 4) {
            const float *wr[4];
            for (int c = 0; c < 4; c++) wr[c] = w + (co0 + c < cout ? co0 + c : cout - 1) * taps;
            __m256 acc[4][2];
            for (int c = 0; c < 4; c++) acc[c][0] = acc[c][1] = _mm256_setzero_ps();
            for (int64_t t = 0; t < taps; t++) {
                const float *base = m->img + m->tap_off[t];
                __m256 x0 = runs_load(base, r0), x1 = runs_load(base, r1);
                for (int c = 0; c < 4; c++) {
                    __m256 wv = _mm256_broadcast_ss(wr[c] + t);
                    acc[c][0] = _mm256_fmadd_ps(wv, x0, acc[c][0]);
                    acc[c][1] = _mm256_fmadd_ps(wv, x1, acc[c][1]);
                }
            }
            for (int c = 0; c < 4 && co0 + c < cout; c++)
                for (int h = 0; h < 2; h++) {
                    int64_t pos = (q + h) * 8, n = l - pos < 8 ? l - pos : 8;
                    if (n <= 0) continue;
                    __m256 v = acc[c][h];
                    if (bias) v = _mm256_add_ps(v, _mm256_broadcast_ss(bias + co0 + c));
                    store_lanes(out + (co0 + c) * l + pos, n, v);
                }
        }
    }
    return true;
}

/* k taps (a constant in each copy, so that the accumulators stay in registers and the taps' loop
 * has no branch) over all the groups: a group within one output row is one load per tap. */
static inline __attribute__((always_inline)) void one_channel_taps(int k, const float *const *base,
                                                                   const float *dy, int64_t groups,
                                                                   const runs8 *runs, __m256i tail,
                                                                   __m256 *a) {
    for (int64_t q = 0; q < groups; q++) {
        __m256 gv =
            q + 1 < groups ? _mm256_loadu_ps(dy + q * 8) : _mm256_maskload_ps(dy + q * 8, tail);
        const runs8 *r = &runs[q];
        if (r->whole) {
            int32_t sh = r->shift[0];
            for (int i = 0; i < k; i++)
                a[i] = _mm256_fmadd_ps(gv, _mm256_loadu_ps(base[i] + sh), a[i]);
        } else {
            for (int i = 0; i < k; i++)
                a[i] = _mm256_fmadd_ps(gv, runs_load(base[i], r), a[i]);
        }
    }
}

/* One output channel: tiles of up to 8 taps (the taps split evenly), one accumulator each. */
static void weight_one_channel(const conv_im2col *m, int64_t taps, const float *dy, int64_t l,
                               float *acc, const runs8 *runs, __m256i tail) {
    int64_t groups = (l + 7) / 8, tiles = (taps + 7) / 8, size = (taps + tiles - 1) / tiles;
    for (int64_t k0 = 0; k0 < taps; k0 += size) {
        int64_t k = taps - k0 < size ? taps - k0 : size;
        const float *base[8];
        __m256 a[8];
        for (int64_t i = 0; i < 8; i++) {
            base[i] = m->img + m->tap_off[k0 + (i < k ? i : k - 1)];
            a[i] = _mm256_setzero_ps();
        }
        switch (k) {
        case 1: one_channel_taps(1, base, dy, groups, runs, tail, a); break;
        case 2: one_channel_taps(2, base, dy, groups, runs, tail, a); break;
        case 3: one_channel_taps(3, base, dy, groups, runs, tail, a); break;
        case 4: one_channel_taps(4, base, dy, groups, runs, tail, a); break;
        case 5: one_channel_taps(5, base, dy, groups, runs, tail, a); break;
        case 6: one_channel_taps(6, base, dy, groups, runs, tail, a); break;
        case 7: one_channel_taps(7, base, dy, groups, runs, tail, a); break;
        default: one_channel_taps(8, base, dy, groups, runs, tail, a); break;
        }
        for (int64_t i = 0; i < k; i++) {
            float *dst = acc + (k0 + i) * 8;
            _mm256_storeu_ps(dst, _mm256_add_ps(_mm256_loadu_ps(dst), a[i]));
        }
    }
}

/* Tiles of 4 output channels x 3 taps, 12 accumulators held over all the positions; channels
 * and taps past the ends repeat the last one and are not stored. A single channel takes
 * weight_one_channel (the same operations per lane). */
bool cpu_conv_direct_weight_f32_avx2(const conv_im2col *m, int64_t taps, const float *dy,
                                     int64_t cout, int64_t l, float *acc) {
    runs8 *runs = runs_table(m, l);
    if (!runs) return false;
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int64_t groups = (l + 7) / 8, last = l - (groups - 1) * 8;
    __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)last), lanes);
    if (cout == 1) {
        weight_one_channel(m, taps, dy, l, acc, runs, tail);
        return true;
    }
    for (int64_t co0 = 0; co0 < cout; co0 += 4) {
        const float *g[4];
        for (int c = 0; c < 4; c++) g[c] = dy + (co0 + c < cout ? co0 + c : cout - 1) * l;
        for (int64_t t0 = 0; t0 < taps; t0 += 3) {
            const float *base[3];
            for (int k = 0; k < 3; k++) base[k] = m->img + m->tap_off[t0 + k < taps ? t0 + k : taps - 1];
            __m256 a[4][3];
            for (int c = 0; c < 4; c++)
                for (int k = 0; k < 3; k++) a[c][k] = _mm256_setzero_ps();
            for (int64_t q = 0; q < groups; q++) {
                __m256 x[3], gv[4];
                for (int k = 0; k < 3; k++) x[k] = runs_load(base[k], &runs[q]);
                for (int c = 0; c < 4; c++)
                    gv[c] = q + 1 < groups ? _mm256_loadu_ps(g[c] + q * 8)
                                           : _mm256_maskload_ps(g[c] + q * 8, tail);
                for (int c = 0; c < 4; c++)
                    for (int k = 0; k < 3; k++) a[c][k] = _mm256_fmadd_ps(gv[c], x[k], a[c][k]);
            }
            for (int c = 0; c < 4 && co0 + c < cout; c++)
                for (int k = 0; k < 3 && t0 + k < taps; k++) {
                    float *dst = acc + ((co0 + c) * taps + t0 + k) * 8;
                    _mm256_storeu_ps(dst, _mm256_add_ps(_mm256_loadu_ps(dst), a[c][k]));
                }
        }
    }
    return true;
}

void cpu_conv_add_f32_avx2(float *dst, const float *src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), _mm256_loadu_ps(src + i)));
    for (; i < n; i++) dst[i] += src[i];
}

void cpu_conv_mul_add_f32_avx2(float *dst, const float *src, float w, int64_t n) {
    const __m256 wv = _mm256_set1_ps(w);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 p0 = _mm256_mul_ps(wv, _mm256_loadu_ps(src + i));
        __m256 p1 = _mm256_mul_ps(wv, _mm256_loadu_ps(src + i + 8));
        _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), p0));
        _mm256_storeu_ps(dst + i + 8, _mm256_add_ps(_mm256_loadu_ps(dst + i + 8), p1));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i),
                                                _mm256_mul_ps(wv, _mm256_loadu_ps(src + i))));
    for (; i < n; i++) {
        float prod = w * src[i];
        dst[i] += prod;
    }
}

void cpu_conv_taps_dot_f32_avx2(float *out, const float *img, const int32_t *off, const float *w,
                                int64_t taps, int64_t n, const float *bias) {
    const __m256 b = bias ? _mm256_broadcast_ss(bias) : _mm256_setzero_ps();
    int64_t q = 0;
    for (; q + 32 <= n; q += 32) { /* four chains at a time */
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t t = 0; t < taps; t++) {
            const float *x = img + off[t] + q;
            const __m256 wv = _mm256_broadcast_ss(w + t);
            a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x), a0);
            a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + 8), a1);
            a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + 16), a2);
            a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + 24), a3);
        }
        if (bias) {
            a0 = _mm256_add_ps(a0, b), a1 = _mm256_add_ps(a1, b);
            a2 = _mm256_add_ps(a2, b), a3 = _mm256_add_ps(a3, b);
        }
        _mm256_storeu_ps(out + q, a0), _mm256_storeu_ps(out + q + 8, a1);
        _mm256_storeu_ps(out + q + 16, a2), _mm256_storeu_ps(out + q + 24, a3);
    }
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (; q < n; q += 8) { /* the rest a vector at a time, the last one masked */
        const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - q)), lanes);
        __m256 a = _mm256_setzero_ps();
        for (int64_t t = 0; t < taps; t++)
            a = _mm256_fmadd_ps(_mm256_broadcast_ss(w + t),
                                _mm256_maskload_ps(img + off[t] + q, live), a);
        if (bias) a = _mm256_add_ps(a, b);
        _mm256_maskstore_ps(out + q, live, a);
    }
}
