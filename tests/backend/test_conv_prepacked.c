/* cpu_conv2d_f32_prepacked (weights packed once) against born_conv2d (packed on every call): the
 * same bits for pointwise, padded, strided, grouped, few-tap (direct kernel), stride-1 (direct
 * tile kernel, masked last tile), stride-2 (the tile kernel over polyphase planes), small-plane
 * (output channels in lanes) and deep (several k blocks) geometries, with and without bias, on 1 and 2 threads; the epilogue sees every output
 * element exactly once; the epilogue given as operations (applied in the tile kernels' registers)
 * gives the bits of the same operations applied afterwards; mismatched geometries are refused. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/conv_prepacked.h"
#include "test.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static float rnd(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static born_tensor *random_tensor(int ndim, const int64_t *shape) {
    born_tensor *t = born_empty(BORN_F32, ndim, shape);
    if (!t) return NULL;
    float *d = born_data_f32(t);
    for (int64_t i = 0; i < born_tensor_numel(t); i++) d[i] = rnd();
    return t;
}

/* The epilogue used here: y = y * 0.5 + 1 (two roundings), counting the elements it sees. */
typedef struct ep_count {
    int64_t seen; /* atomically summed: the pool may run blocks at once */
} ep_count;

static void ep_half_plus_one(void *ctx, int64_t ch0, int64_t nch, float *out, int64_t rs,
                             int64_t ncols) {
    (void)ch0;
    ep_count *c = ctx;
    for (int64_t r = 0; r < nch; r++)
        for (int64_t j = 0; j < ncols; j++) {
            float v = out[r * rs + j] * 0.5f;
            out[r * rs + j] = v + 1.0f;
        }
    __atomic_fetch_add(&c->seen, nch * ncols, __ATOMIC_RELAXED);
}

/* The operations given to cpu_conv2d_f32_prepacked_ops: clamp to [-0.9, 1.5], * 0.5, + 1,
 * HardSwish as paddle2onnx writes it (x * clamp(x + 3, 0, 6) / 6), each rounded to f32. */
static const int ops_kind[4] = {CPU_CONV_EP_CLAMP, CPU_CONV_EP_MUL, CPU_CONV_EP_ADD,
                                CPU_CONV_EP_HSWISH};
static const float ops_v[4][4] = {{-0.9f, 1.5f}, {0.5f}, {1.0f}, {3.0f, 0.0f, 6.0f, 6.0f}};

static float ops_ref(float x) {
    x = x < ops_v[0][0] ? ops_v[0][0] : (x > ops_v[0][1] ? ops_v[0][1] : x);
    x = x * ops_v[1][0];
    x = x + ops_v[2][0];
    float t = x + ops_v[3][0];
    t = t < ops_v[3][1] ? ops_v[3][1] : (t > ops_v[3][2] ? ops_v[3][2] : t);
    float m = x * t;
    return m / ops_v[3][3];
}

/* The same operations as a callback, for the paths that do not apply them in registers. */
static void ep_ops(void *ctx, int64_t ch0, int64_t nch, float *out, int64_t rs, int64_t ncols) {
    (void)ch0;
    ep_count *c = ctx;
    for (int64_t r = 0; r < nch; r++)
        for (int64_t j = 0; j < ncols; j++) out[r * rs + j] = ops_ref(out[r * rs + j]);
    __atomic_fetch_add(&c->seen, nch * ncols, __ATOMIC_RELAXED);
}

/* The dilation conv_case uses (both directions). */
static int64_t case_dil = 1;

/* Whether conv_case also packs the weights in lanes (the small-plane 1x1 kernel, conv_point.h). */
static bool case_lanes = false;

/* One geometry: N, C, H, W, M, kernel, stride, pad, groups, bias; dilation case_dil. */
static void conv_case(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t kh,
                      int64_t kw, int64_t s, int64_t pad, int64_t groups, bool bias, int line) {
    born_scope_begin();
    born_tensor *x = random_tensor(BORN_DIMS(N, C, H, W));
    born_tensor *w = random_tensor(BORN_DIMS(M, C / groups, kh, kw));
    born_tensor *b = bias ? random_tensor(BORN_DIMS(M)) : NULL;
    born_conv2d_params p = born_conv2d_default_params();
    p.stride[0] = p.stride[1] = s;
    p.padding[0] = p.padding[1] = pad;
    p.groups = groups;
    p.dilation[0] = p.dilation[1] = case_dil;
    int64_t k = C / groups * kh * kw;
    int saved = born_get_num_threads();
    cpu_conv_weights *pw = cpu_conv_weights_new(born_data_f32(w), M, k, groups);
    CHECK(pw != NULL);
    if (pw && case_lanes) CHECK_OK(cpu_conv_weights_pack_lanes(pw));
    for (int threads = 1; threads <= 2 && pw; threads++) {
        born_set_num_threads(threads);
        born_tensor *want = born_contiguous(born_conv2d(x, w, b, &p));
        CHECK_OK_TENSOR(want);
        if (!want) break;
        const int64_t *os = born_tensor_shape(want);
        born_conv2d_geometry g = {N, C, H, W, M, os[2], os[3], kh, kw, {s, s}, {pad, pad},
                                  {case_dil, case_dil}, groups};
        int64_t n = born_tensor_numel(want);
        float *got = malloc((size_t)n * sizeof(float)), *got2 = malloc((size_t)n * sizeof(float));
        CHECK(got && got2);
        if (got && got2) {
            CHECK_OK(cpu_conv2d_f32_prepacked(got, born_data_f32(x), pw, b ? born_data_f32(b) : NULL,
                                              &g, NULL, NULL));
            ep_count cnt = {0};
            CHECK_OK(cpu_conv2d_f32_prepacked(got2, born_data_f32(x), pw,
                                              b ? born_data_f32(b) : NULL, &g, ep_half_plus_one,
                                              &cnt));
            CHECK_MSG(cnt.seen == n, "line %d: the epilogue saw %lld of %lld elements", line,
                      (long long)cnt.seen, (long long)n);
            int64_t bad = 0, bad_ep = 0, bad_ops = 0;
            const float *wd = born_data_f32(want);
            for (int64_t i = 0; i < n; i++) {
                bad += memcmp(&got[i], &wd[i], sizeof(float)) != 0;
                float e = wd[i] * 0.5f;
                e = e + 1.0f;
                bad_ep += memcmp(&got2[i], &e, sizeof(float)) != 0;
            }
            /* the operations in the tile's registers (or through the callback elsewhere) */
            ep_count cnt3 = {0};
            cpu_conv_ep_ops ops = {4, ops_kind, ops_v};
            CHECK_OK(cpu_conv2d_f32_prepacked_ops(got2, born_data_f32(x), pw,
                                                  b ? born_data_f32(b) : NULL, &g, &ops, ep_ops,
                                                  &cnt3));
            CHECK_MSG(cnt3.seen == n || cnt3.seen == 0, "line %d: the callback saw %lld of %lld",
                      line, (long long)cnt3.seen, (long long)n);
            for (int64_t i = 0; i < n; i++) {
                float e = ops_ref(wd[i]);
                bad_ops += memcmp(&got2[i], &e, sizeof(float)) != 0;
            }
            CHECK_MSG(bad_ops == 0, "line %d, %d threads: %lld outputs of the operations differ",
                      line, threads, (long long)bad_ops);
            CHECK_MSG(bad == 0, "line %d, %d threads: %lld of %lld outputs differ from born_conv2d",
                      line, threads, (long long)bad, (long long)n);
            CHECK_MSG(bad_ep == 0, "line %d, %d threads: %lld epilogue outputs differ", line,
                      threads, (long long)bad_ep);
        }
        free(got);
        free(got2);
    }
    cpu_conv_weights_free(pw);
    born_set_num_threads(saved);
    born_scope_end();
}

TEST(conv_prepacked_matches_born_conv2d) {
    conv_case(1, 16, 12, 20, 24, 1, 1, 1, 0, 1, true, __LINE__);   /* pointwise */
    conv_case(1, 16, 12, 20, 24, 1, 1, 1, 0, 1, false, __LINE__);  /* pointwise, no bias */
    conv_case(2, 8, 15, 17, 13, 3, 3, 2, 1, 1, true, __LINE__);    /* strided, padded */
    conv_case(1, 1, 20, 22, 8, 3, 3, 1, 0, 1, true, __LINE__);     /* few taps: direct kernel */
    conv_case(1, 12, 9, 11, 18, 3, 3, 1, 1, 3, true, __LINE__);    /* grouped */
    conv_case(1, 40, 10, 10, 20, 3, 3, 1, 1, 1, true, __LINE__);   /* k = 360: two k blocks */
    conv_case(3, 4, 7, 9, 5, 1, 1, 1, 0, 1, false, __LINE__);      /* batch >= threads */
    conv_case(1, 6, 5, 300, 7, 1, 1, 1, 0, 1, true, __LINE__); /* several column blocks */
    /* stride 1, one group: the direct tile kernel (conv_direct.h) on AVX2 */
    conv_case(2, 7, 9, 13, 11, 3, 3, 1, 1, 1, true, __LINE__);    /* 11 channels, gapped rows */
    conv_case(1, 96, 10, 10, 24, 3, 3, 1, 1, 1, true, __LINE__);  /* k = 864: four k blocks */
    conv_case(1, 5, 6, 7, 9, 5, 5, 1, 2, 1, false, __LINE__);     /* no bias: the first block */
    conv_case(1, 300, 5, 5, 20, 1, 1, 1, 0, 1, false, __LINE__);  /* pointwise, two k blocks */
    conv_case(1, 20, 40, 40, 8, 3, 3, 1, 1, 1, true, __LINE__);   /* tiles split over threads */
    conv_case(1, 9, 3, 2, 7, 1, 1, 1, 0, 1, true, __LINE__);      /* one partial tile */
    /* k = 270: two blocks of 135 taps; 31 channels: panel chunks of 4 and 2, the last panel one
     * channel; the last tile partial */
    conv_case(1, 30, 9, 11, 31, 3, 3, 1, 1, 1, true, __LINE__);
    /* small planes split over output channel panels (2 threads) */
    conv_case(1, 192, 10, 10, 192, 1, 1, 1, 0, 1, true, __LINE__); /* det's 10x10 pointwise */
    conv_case(2, 400, 5, 5, 200, 1, 1, 1, 0, 1, true, __LINE__);   /* a partial last panel */
    /* stride 2, one group: the tile kernel over polyphase planes on AVX2 */
    conv_case(1, 3, 48, 50, 16, 3, 3, 2, 1, 1, true, __LINE__);   /* a first layer, padded */
    conv_case(2, 5, 9, 8, 7, 3, 3, 2, 0, 1, false, __LINE__);     /* no padding, no bias */
    conv_case(1, 40, 11, 13, 12, 3, 3, 2, 1, 1, true, __LINE__);  /* k = 360: two k blocks */
    conv_case(1, 4, 7, 7, 6, 5, 5, 2, 2, 1, true, __LINE__);      /* 5x5, odd sizes */
    conv_case(1, 6, 10, 9, 5, 1, 1, 2, 0, 1, true, __LINE__);     /* 1x1 stride 2 */
    conv_case(1, 3, 2, 3, 4, 3, 3, 2, 1, 1, true, __LINE__);      /* one output row */
    conv_case(1, 16, 64, 64, 32, 3, 3, 2, 1, 1, true, __LINE__);  /* tiles split over threads */
    conv_case(1, 3, 1, 1, 4, 3, 3, 2, 1, 1, true, __LINE__);      /* a 1x1 image, padded */
    conv_case(1, 2, 6, 1, 3, 2, 1, 2, 0, 1, true, __LINE__);      /* one column */
    case_dil = 2; /* odd and even dilated taps land on different phases */
    conv_case(1, 3, 17, 19, 8, 3, 3, 2, 2, 1, true, __LINE__);
    conv_case(1, 4, 12, 12, 6, 3, 3, 1, 2, 1, true, __LINE__);
    case_dil = 3;
    conv_case(1, 2, 20, 15, 7, 2, 3, 2, 1, 1, false, __LINE__);
    case_dil = 1;
    /* 1x1 on small planes with the weights also packed in lanes: 16 channels x up to 6 positions
     * (conv_point.h) */
    case_lanes = true;
    conv_case(1, 96, 1, 1, 24, 1, 1, 1, 0, 1, true, __LINE__);     /* one position (SE block) */
    conv_case(1, 384, 5, 5, 384, 1, 1, 1, 0, 1, true, __LINE__);   /* det's 5x5: two k blocks */
    conv_case(1, 192, 10, 10, 192, 1, 1, 1, 0, 1, false, __LINE__); /* det's 10x10, no bias */
    conv_case(2, 300, 5, 5, 42, 1, 1, 1, 0, 1, true, __LINE__);   /* a partial last panel */
    conv_case(3, 7, 2, 3, 5, 1, 1, 1, 0, 1, true, __LINE__);      /* batch, one partial panel */
    conv_case(1, 2000, 7, 11, 16, 1, 1, 1, 0, 1, true, __LINE__); /* positions split (2 threads) */
    conv_case(1, 96, 5, 5, 24, 3, 3, 1, 1, 1, true, __LINE__);    /* 3x3 padded, k = 864 */
    conv_case(2, 9, 9, 7, 20, 5, 5, 2, 2, 1, false, __LINE__);    /* 5x5, stride 2 */
    conv_case(1, 129, 1, 6, 128, 1, 3, 1, 0, 1, true, __LINE__);  /* 1-D (Silero's encoder) */
    conv_case(1, 128, 1, 4, 64, 1, 3, 2, 0, 1, true, __LINE__);   /* 1-D, stride 2 */
    conv_case(1, 1, 1, 640, 258, 1, 128, 64, 0, 1, false, __LINE__); /* 1-D STFT-like */
    case_dil = 2;
    conv_case(1, 5, 8, 8, 7, 3, 3, 1, 2, 1, true, __LINE__);      /* dilated */
    case_dil = 1;
    case_lanes = false;
}

TEST(conv_prepacked_refuses_mismatched_geometry) {
    float w[2 * 3] = {0};
    CHECK(cpu_conv_weights_new(w, 3, 2, 2) == NULL); /* 3 channels in 2 groups */
    born_clear_error();
    cpu_conv_weights *pw = cpu_conv_weights_new(w, 2, 3, 1);
    CHECK(pw != NULL);
    CHECK(cpu_conv_weights_out_channels(pw) == 2);
    born_conv2d_geometry g = {1, 4, 1, 1, 2, 1, 1, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1};
    float x[4] = {0}, y[2];
    CHECK_ERROR(cpu_conv2d_f32_prepacked(y, x, pw, NULL, &g, NULL, NULL), "does not match");
    cpu_conv_weights_free(pw);
}
