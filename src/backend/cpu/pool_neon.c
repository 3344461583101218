/* arm64 NEON kernels for f32 max pooling with 2x2 windows at stride 2 that all lie inside the
 * plane (no padding, dilation 1), pool_avx2.c's on 4 lanes: four outputs a step, with the exact
 * semantics of the portable kernels in pool.c (the first maximum of the window in row-major order
 * wins, a NaN takes over from anything before it). A row's two taps per window come from one
 * de-interleaving load (vld2q_f32) and the backward's two cells per window go back with one
 * interleaving store (vst2q_f32); the last 1-3 outputs of a row go through small buffers.
 * Offsets are computed in 32 bits; pool.c only comes here for planes under 2^30 cells. Also f32
 * average pooling whose windows lie inside the plane, four outputs a step with the portable
 * loop's operations. Compiled for arm64 only. */
#include "backend/cpu/pool_neon.h"

#include <arm_neon.h>
#include <string.h>

/* The four taps of 4 windows in row-major order, from rows r0 and r1 (8 floats each) and the
 * best value with the offset of its tap in the window (0, 1, w or w + 1). */
static inline float32x4_t pick_max(float32x4x2_t a, float32x4x2_t b, int32x4_t w, int32x4_t *rel) {
    float32x4_t best = a.val[0];
    int32x4_t r = vdupq_n_s32(0);
    const float32x4_t taps[3] = {a.val[1], b.val[0], b.val[1]};
    const int32x4_t offs[3] = {vdupq_n_s32(1), w, vaddq_s32(w, vdupq_n_s32(1))};
    for (int t = 0; t < 3; t++) {
        /* take: greater, or NaN (x != x) */
        uint32x4_t take =
            vorrq_u32(vcgtq_f32(taps[t], best), vmvnq_u32(vceqq_f32(taps[t], taps[t])));
        best = vbslq_f32(take, taps[t], best);
        r = vbslq_s32(take, offs[t], r);
    }
    *rel = r;
    return best;
}

/* Stores 4 flat indices base + rel as int64. */
static inline void store_idx(int64_t *ix, int32x4_t base, int32x4_t rel) {
    int32x4_t off = vaddq_s32(base, rel);
    vst1q_s64(ix, vmovl_s32(vget_low_s32(off)));
    vst1q_s64(ix + 2, vmovl_high_s32(off));
}

void cpu_max_pool_2x2_f32_neon(const float *in, float *out, int64_t *idx, int64_t w, int64_t oh,
                               int64_t ow) {
    const int32x4_t lane2 = {0, 2, 4, 6}, vw = vdupq_n_s32((int32_t)w);
    for (int64_t y = 0; y < oh; y++) {
        const float *r0 = in + 2 * y * w, *r1 = r0 + w;
        float *o = out + y * ow;
        int64_t *ix = idx + y * ow;
        int64_t x = 0;
        int32x4_t rel;
        for (; x + 4 <= ow; x += 4) {
            float32x4_t best = pick_max(vld2q_f32(r0 + 2 * x), vld2q_f32(r1 + 2 * x), vw, &rel);
            vst1q_f32(o + x, best);
            store_idx(ix + x, vaddq_s32(vdupq_n_s32((int32_t)(2 * y * w + 2 * x)), lane2), rel);
        }
        if (x < ow) { /* the last 1-3 outputs, through buffers */
            int64_t n = ow - x;
            float a[8] = {0}, b[8] = {0}, ob[4];
            int64_t ib[4];
            memcpy(a, r0 + 2 * x, sizeof(float) * (size_t)(2 * n));
            memcpy(b, r1 + 2 * x, sizeof(float) * (size_t)(2 * n));
            float32x4_t best = pick_max(vld2q_f32(a), vld2q_f32(b), vw, &rel);
            vst1q_f32(ob, best);
            store_idx(ib, vaddq_s32(vdupq_n_s32((int32_t)(2 * y * w + 2 * x)), lane2), rel);
            memcpy(o + x, ob, sizeof(float) * (size_t)n);
            memcpy(ix + x, ib, sizeof(int64_t) * (size_t)n);
        }
    }
}

/* Scatters 4 gradients into their windows' cells: rows r0 and r1 get 8 floats each (0 + g where
 * the index points, which turns -0 into +0 as the generic zero fill and add, 0 elsewhere).
 * Returns false when an index (64-bit, relative to its window's first cell) is not 0, 1, w or
 * w + 1. */
static inline bool scatter4(float *r0, float *r1, float32x4_t g, const int64_t *ix, int64_t base,
                            int64_t w) {
    const int64x2_t lane2_lo = {0, 2}, lane2_hi = {4, 6};
    int64x2_t b = vdupq_n_s64(base);
    int64x2_t rel_lo = vsubq_s64(vld1q_s64(ix), vaddq_s64(b, lane2_lo));
    int64x2_t rel_hi = vsubq_s64(vld1q_s64(ix + 2), vaddq_s64(b, lane2_hi));
    /* in [0, w + 1] as unsigned: then the low 32 bits are the whole offset */
    uint64x2_t lim = vdupq_n_u64((uint64_t)w + 1);
    uint32x4_t in = vcombine_u32(vmovn_u64(vcleq_u64(vreinterpretq_u64_s64(rel_lo), lim)),
                                 vmovn_u64(vcleq_u64(vreinterpretq_u64_s64(rel_hi), lim)));
    int32x4_t rel = vcombine_s32(vmovn_s64(rel_lo), vmovn_s64(rel_hi));
    int32x4_t vw = vdupq_n_s32((int32_t)w);
    uint32x4_t m0 = vceqq_s32(rel, vdupq_n_s32(0)), m1 = vceqq_s32(rel, vdupq_n_s32(1));
    uint32x4_t m2 = vceqq_s32(rel, vw), m3 = vceqq_s32(rel, vaddq_s32(vw, vdupq_n_s32(1)));
    uint32x4_t ok = vandq_u32(in, vorrq_u32(vorrq_u32(m0, m1), vorrq_u32(m2, m3)));
    if (vminvq_u32(ok) == 0) return false;
    const float32x4_t zero = vdupq_n_f32(0);
    uint32x4_t gb = vreinterpretq_u32_f32(g);
    float32x4x2_t top, bottom;
    top.val[0] = vaddq_f32(vreinterpretq_f32_u32(vandq_u32(m0, gb)), zero);
    top.val[1] = vaddq_f32(vreinterpretq_f32_u32(vandq_u32(m1, gb)), zero);
    bottom.val[0] = vaddq_f32(vreinterpretq_f32_u32(vandq_u32(m2, gb)), zero);
    bottom.val[1] = vaddq_f32(vreinterpretq_f32_u32(vandq_u32(m3, gb)), zero);
    vst2q_f32(r0, top);
    vst2q_f32(r1, bottom);
    return true;
}

bool cpu_max_pool_2x2_backward_f32_neon(float *gi, const float *go, const int64_t *idx, int64_t h,
                                        int64_t w, int64_t oh, int64_t ow) {
    for (int64_t y = 0; y < oh; y++) {
        float *r0 = gi + 2 * y * w, *r1 = r0 + w;
        const float *g = go + y * ow;
        const int64_t *ix = idx + y * ow;
        int64_t x = 0;
        for (; x + 4 <= ow; x += 4)
            if (!scatter4(r0 + 2 * x, r1 + 2 * x, vld1q_f32(g + x), ix + x, 2 * y * w + 2 * x, w))
                return false; /* an index outside its window: the caller's generic path */
        if (x < ow) { /* the last 1-3 outputs, through buffers: the padding lanes point at their
                       * windows' first cells, with gradient 0 */
            int64_t n = ow - x, base = 2 * y * w + 2 * x;
            float gb[4] = {0}, a[8], b[8];
            int64_t ib[4] = {base, base + 2, base + 4, base + 6};
            memcpy(gb, g + x, sizeof(float) * (size_t)n);
            memcpy(ib, ix + x, sizeof(int64_t) * (size_t)n);
            if (!scatter4(a, b, vld1q_f32(gb), ib, base, w)) return false;
            memcpy(r0 + 2 * x, a, sizeof(float) * (size_t)(2 * n));
            memcpy(r1 + 2 * x, b, sizeof(float) * (size_t)(2 * n));
        }
        for (int64_t c = 2 * ow; c < w; c++) /* the column no window covers */
            r0[c] = r1[c] = 0;
    }
    for (int64_t c = 2 * oh * w; c < h * w; c++) /* the row no window covers */
        gi[c] = 0;
    return true;
}

/* Four outputs' cells of one tap: consecutive at a horizontal stride of 1, every other one (a
 * de-interleaving load) at 2 where the 8 floats read stay before end, else lane by lane. */
static inline float32x4_t avg_cells(const float *p, int64_t sw, const float *end) {
    if (sw == 1) return vld1q_f32(p);
    if (sw == 2 && p + 8 <= end) return vld2q_f32(p).val[0];
    float32x4_t v = vld1q_dup_f32(p);
    v = vld1q_lane_f32(p + sw, v, 1);
    v = vld1q_lane_f32(p + 2 * sw, v, 2);
    return vld1q_lane_f32(p + 3 * sw, v, 3);
}

void cpu_avg_pool_inside_f32_neon(const float *in, float *out, int64_t w, int64_t oh, int64_t ow,
                                  int64_t kh, int64_t kw, int64_t sh, int64_t sw, float divisor) {
    const float32x4_t dv = vdupq_n_f32(divisor);
    for (int64_t y = 0; y < oh; y++) {
        const float *row = in + y * sh * w;
        float *o = out + y * ow;
        int64_t x = 0;
        for (; x + 4 <= ow; x += 4) {
            float32x4_t acc = vdupq_n_f32(0.0f);
            for (int64_t i = 0; i < kh; i++) {
                const float *p = row + i * w + x * sw, *end = row + i * w + w;
                for (int64_t j = 0; j < kw; j++)
                    acc = vaddq_f32(acc, avg_cells(p + j, sw, end));
            }
            vst1q_f32(o + x, vdivq_f32(acc, dv));
        }
        for (; x < ow; x++) {
            float sum = 0;
            for (int64_t i = 0; i < kh; i++)
                for (int64_t j = 0; j < kw; j++)
                    sum += row[i * w + x * sw + j];
            o[x] = sum / divisor;
        }
    }
}
