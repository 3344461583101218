/* Prepared Conv steps: constant weights packed at load (backend/cpu/conv_prepacked.h) and the
 * step's fused epilogue applied by the convolution itself, block by block. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/conv_prepacked.h"
#include "core/cpu_features.h"
#include "onnx/conv_prep.h"
#include "onnx/conv_fast_kernels.h"
#include "onnx/plan.h"

struct onnx_conv_prep {
    cpu_conv_weights *w; /* NULL: depthwise */
    int nops;            /* the clamp of a fused Relu / Clip first, then the epilogue chain */
    int kind[9];
    float v[9][4];
};

_Static_assert((int)CONV_EP_MUL == (int)EP_MUL && (int)CONV_EP_ADD == (int)EP_ADD &&
                   (int)CONV_EP_HSWISH == (int)EP_HSWISH,
               "epilogue kinds");
_Static_assert((int)CONV_EP_CLAMP == (int)CPU_CONV_EP_CLAMP && (int)CONV_EP_MUL == (int)CPU_CONV_EP_MUL &&
                   (int)CONV_EP_ADD == (int)CPU_CONV_EP_ADD &&
                   (int)CONV_EP_HSWISH == (int)CPU_CONV_EP_HSWISH,
               "epilogue kinds of the backend");

onnx_conv_prep *onnx_conv_prep_new(plan_step *ps, born_tensor *w, int64_t group) {
    if (!w || born_tensor_dtype(w) != BORN_F32 || !born_tensor_is_contiguous(w)) return NULL;
    int r = born_tensor_ndim(w);
    if (r < 3 || r > 4 || group <= 0 || ps->nep > 8) return NULL;
    const int64_t *ws = born_tensor_shape(w);
    int64_t M = ws[0], k = born_tensor_numel(w) / (M > 0 ? M : 1);
    if (M <= 0 || M % group) return NULL;
    onnx_conv_prep *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    bool depthwise = r == 4 && group > 1 && M == group && ws[1] == 1;
    if (!depthwise) {
        p->w = cpu_conv_weights_new(born_data_f32(w), M, k, group);
        if (!p->w) {
            born_clear_error();
            free(p);
            return NULL;
        }
        if (group == 1 && cpu_conv_weights_pack_lanes(p->w) != BORN_OK)
            born_clear_error(); /* the tile kernels then take small planes too */
    }
    if (ps->act) { /* born_unary's clamp takes its bounds as f32 */
        p->kind[p->nops] = CONV_EP_CLAMP;
        p->v[p->nops][0] = (float)ps->lo;
        p->v[p->nops++][1] = (float)ps->hi;
    }
    for (int q = 0; q < ps->nep; q++) {
        p->kind[p->nops] = ps->ep[q].kind;
        memcpy(p->v[p->nops++], ps->ep[q].v, sizeof p->v[0]);
    }
    ps->act = 0;
    ps->nep = 0;
    return p;
}

void onnx_conv_prep_free(onnx_conv_prep *p) {
    if (!p) return;
    cpu_conv_weights_free(p->w);
    free(p);
}

const cpu_conv_weights *onnx_conv_prep_weights(const onnx_conv_prep *p) { return p ? p->w : NULL; }

int onnx_conv_prep_ops(const onnx_conv_prep *p, const int **kind, const float (**v)[4]) {
    *kind = p ? p->kind : NULL;
    *v = p ? (const float(*)[4])p->v : NULL;
    return p ? p->nops : 0;
}

bool onnx_conv_prep_has_epilogue(const onnx_conv_prep *p) { return p && p->nops; }

static float op1(int kind, const float *v, float x) {
    switch (kind) {
    case CONV_EP_CLAMP: return x < v[0] ? v[0] : (x > v[1] ? v[1] : x);
    case CONV_EP_MUL: return x * v[0];
    case CONV_EP_ADD: return x + v[0];
    default: {
        float t = x + v[0];
        t = t < v[1] ? v[1] : t;
        t = t > v[2] ? v[2] : t;
        float m = x * t;
        return m / v[3];
    }
    }
}

void onnx_conv_prep_rows(const onnx_conv_prep *p, float *y, int64_t rs, int64_t nrows,
                         int64_t ncols) {
    if (!p || !p->nops) return;
#ifdef ONNX_HAVE_EP_AVX2
    if (cpu_get_level() >= CPU_LEVEL_AVX2) {
        onnx_conv_ep_rows_avx2(p->nops, p->kind, (const float(*)[4])p->v, y, rs, nrows, ncols);
        return;
    }
#endif
    for (int64_t r = 0; r < nrows; r++) {
        float *row = y + r * rs;
        for (int64_t j = 0; j < ncols; j++) {
            float x = row[j];
            for (int q = 0; q < p->nops; q++) x = op1(p->kind[q], p->v[q], x);
            row[j] = x;
        }
    }
}

born_status onnx_conv_prep_tensor(const onnx_conv_prep *p, born_tensor **y) {
    if (!onnx_conv_prep_has_epilogue(p)) return BORN_OK;
    born_tensor *x = *y;
    if (born_tensor_dtype(x) == BORN_F32 && born_tensor_is_contiguous(x)) {
        onnx_conv_prep_rows(p, born_data_f32(x), 0, 1, born_tensor_numel(x));
        return BORN_OK;
    }
    int q = 0;
    if (p->kind[0] == CONV_EP_CLAMP) {
        born_tensor *t = born_empty_like(x);
        born_unary_params cp = {p->v[0][0], p->v[0][1]};
        if (!t || born_unary_out(BORN_UNARY_CLAMP, t, x, &cp)) return born_last_status();
        x = t;
        q = 1;
    }
    plan_step ps;
    memset(&ps, 0, sizeof ps);
    for (; q < p->nops; q++) {
        ps.ep[ps.nep].kind = p->kind[q];
        memcpy(ps.ep[ps.nep++].v, p->v[q], sizeof p->v[q]);
    }
    *y = x;
    return onnx_plan_epilogue(&ps, y, false);
}
