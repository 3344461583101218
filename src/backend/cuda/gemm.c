/* Matrix products on CUDA through cuBLASLt: f32 (tf32 tensor cores when BORN_ALLOW_TF32=1, as
 * torch.backends.cuda.matmul.allow_tf32), f16 and bf16 (f32 accumulation) and f64, batched by
 * strides, with either operand transposed in memory (a stride of 1 along either of its last two
 * dims) and broadcast batches (stride 0). Row-major C = A B is computed as the column-major
 * product C^T = B^T A^T, so no operand is copied unless its layout has no unit stride. Each
 * device has one cuBLASLt handle and a 32 MiB workspace from the caching allocator; the chosen
 * algorithm of each problem is cached. The LLM's batched prompt (llm_prefill.c) multiplies through
 * the same handle with half operands and an f32 result, added in place for the residual stream. */
#include <cublasLt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"

enum { WORKSPACE = 32 << 20, ALGO_CACHE = 256 };

typedef struct algo_key {
    int dtype, ta, tb, align, epilogue, out;
    int64_t m, n, k, lda, ldb, batch, sa, sb, ldd;
} algo_key;
_Static_assert(sizeof(algo_key) == 6 * sizeof(int) + 9 * sizeof(int64_t), "algo_key has no padding");

typedef struct algo_entry {
    algo_key key;
    cublasLtMatmulAlgo_t algo;
    bool used;
} algo_entry;

typedef struct gemm_device {
    pthread_mutex_t lock;
    bool ready;
    cublasLtHandle_t handle;
    void *workspace;
    algo_entry cache[ALGO_CACHE];
} gemm_device;

static gemm_device *gemm_devices;
static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;
static bool allow_tf32;

static void gemm_init_once(void) {
    gemm_devices = calloc((size_t)cuda_device_count, sizeof *gemm_devices);
    if (gemm_devices)
        for (int i = 0; i < cuda_device_count; i++) pthread_mutex_init(&gemm_devices[i].lock, NULL);
    const char *e = getenv("BORN_ALLOW_TF32");
    allow_tf32 = e && *e && strcmp(e, "0") != 0;
}

static born_status lt_check(cublasStatus_t s, const char *what) {
    if (s == CUBLAS_STATUS_SUCCESS) return BORN_OK;
    return cuda_error(s == CUBLAS_STATUS_ALLOC_FAILED ? BORN_ERR_MEMORY : BORN_ERR_DEVICE,
                      "matmul: cuBLASLt %s failed (status %d)", what, (int)s);
}

static gemm_device *gemm_device_get(int dev) {
    pthread_once(&gemm_once, gemm_init_once);
    if (!gemm_devices) {
        cuda_error(BORN_ERR_MEMORY, "matmul: out of host memory");
        return NULL;
    }
    gemm_device *g = &gemm_devices[dev];
    pthread_mutex_lock(&g->lock);
    if (!g->ready) {
        if (lt_check(cublasLtCreate(&g->handle), "handle creation") == BORN_OK) {
            g->workspace = cuda_mem_alloc(dev, WORKSPACE);
            if (g->workspace)
                g->ready = true;
            else
                cublasLtDestroy(g->handle);
        }
    }
    pthread_mutex_unlock(&g->lock);
    return g->ready ? g : NULL;
}

/* The largest power of two up to 16 dividing every value. */
static int alignment(uintptr_t a, int64_t b, int64_t c, int64_t d) {
    uint64_t v = (uint64_t)a | (uint64_t)b | (uint64_t)c | (uint64_t)d | 16u;
    return (int)(v & (~v + 1));
}

/* One operand as a stored column-major matrix for cuBLASLt. */
typedef struct operand {
    const char *data;
    bool trans;         /* op = T */
    int64_t rows, cols; /* of the stored matrix */
    int64_t ld, batch_stride;
} operand;

/* Describes row-major X [r, c] (strides sr, sc in elements) as a column-major operand whose
 * op(stored) is X^T [c, r]; false when neither stride is 1. */
static bool describe(operand *o, const char *data, int64_t r, int64_t c, int64_t sr, int64_t sc) {
    o->data = data;
    if (c == 1) sc = 1; /* a unit dim's stride is free */
    if (r == 1) sr = c > 1 ? c : 1;
    if (sc == 1 && sr >= (c > 1 ? c : 1)) { /* row-major: stored column-major [c, r], ld sr */
        o->trans = false;
        o->rows = c;
        o->cols = r;
        o->ld = sr;
        return true;
    }
    if (r == 1) sr = 1;
    if (sr == 1 && sc >= (r > 1 ? r : 1)) { /* column-major: stored [r, c], ld sc, op T */
        o->trans = true;
        o->rows = r;
        o->cols = c;
        o->ld = sc;
        return true;
    }
    return false;
}

typedef struct gemm_types {
    cudaDataType_t data, scale;
    cublasComputeType_t compute;
    size_t size;
} gemm_types;

static bool types_for(born_dtype t, gemm_types *g) {
    switch (t) {
    case BORN_F32:
        *g = (gemm_types){CUDA_R_32F, CUDA_R_32F,
                          allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, 4};
        return true;
    case BORN_F64: *g = (gemm_types){CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_64F, 8}; return true;
    case BORN_F16: *g = (gemm_types){CUDA_R_16F, CUDA_R_32F, CUBLAS_COMPUTE_32F, 2}; return true;
    case BORN_BF16: *g = (gemm_types){CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F, 2}; return true;
    default: return false;
    }
}

/* A fused epilogue of one product (kind CUBLASLT_EPILOGUE_DEFAULT: none): bias is read (BIAS,
 * GELU_AUX_BIAS) or written (BGRADB), aux receives the pre-activation (GELU_AUX*) with leading
 * dimension aux_ld. quiet: a missing algorithm returns BORN_ERR_UNSUPPORTED without an error. */
typedef struct epilogue {
    cublasLtEpilogue_t kind;
    void *bias, *aux;
    int64_t aux_ld;
    bool quiet;
} epilogue;

/* Where a product's result goes when not in the operands' type with leading dimension n: D in
 * type `type` (of size bytes an element) with leading dimension ld, D = opA(A) opB(B) + beta D. */
typedef struct gemm_out {
    cudaDataType_t type;
    size_t size;
    int64_t ld;
    float beta;
} gemm_out;

/* The cache slot of key: FNV-1a over all its bytes (the struct has no padding). A sum of the
 * sizes times small factors sent every shape whose sizes are multiples of 256 (all of an LLM
 * layer's products: 2048 x 2048, 8192 x 2048, ...) to one slot, so they evicted each other and
 * asked cuBLASLt's heuristic again at every product of a batched prompt. */
static size_t key_slot(const algo_key *key) {
    const unsigned char *b = (const unsigned char *)key;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof *key; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return (size_t)(h % ALGO_CACHE);
}

/* One strided-batched product: D (column-major [n, m], ld n, batch stride m n) = opA(A) opB(B)
 * where A is b's operand and B is a's (see the file comment), with epilogue ep (NULL: none) and
 * D as out says (NULL: the operands' type, ld n, beta 0). */
static born_status run_gemm(int dev, gemm_device *g, const gemm_types *ty, born_dtype dtype,
                            const operand *A, const operand *B, char *d, int64_t m, int64_t n,
                            int64_t k, int64_t batch, const epilogue *ep, const gemm_out *out) {
    cudaStream_t stream = cuda_stream(dev);
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, ld = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    born_status st = lt_check(cublasLtMatmulDescCreate(&op, ty->compute, ty->scale), "descriptor");
    cublasOperation_t ta = A->trans ? CUBLAS_OP_T : CUBLAS_OP_N, tb = B->trans ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (st == BORN_OK)
        st = lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta), "attribute");
    if (st == BORN_OK)
        st = lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb), "attribute");
    if (st == BORN_OK && ep && ep->kind != CUBLASLT_EPILOGUE_DEFAULT) {
        st = lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep->kind, sizeof ep->kind), "attribute");
        if (st == BORN_OK && ep->bias)
            st = lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &ep->bias, sizeof ep->bias), "attribute");
        if (st == BORN_OK && ep->aux) {
            st = lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &ep->aux, sizeof ep->aux), "attribute");
            if (st == BORN_OK)
                st = lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ep->aux_ld, sizeof ep->aux_ld), "attribute");
        }
    }
    if (st == BORN_OK)
        st = lt_check(cublasLtMatrixLayoutCreate(&la, ty->data, (uint64_t)A->rows, (uint64_t)A->cols, A->ld), "layout");
    if (st == BORN_OK)
        st = lt_check(cublasLtMatrixLayoutCreate(&lb, ty->data, (uint64_t)B->rows, (uint64_t)B->cols, B->ld), "layout");
    if (st == BORN_OK)
        st = lt_check(cublasLtMatrixLayoutCreate(&ld, out ? out->type : ty->data, (uint64_t)n, (uint64_t)m,
                                                 out ? out->ld : n), "layout");
    if (st == BORN_OK && batch > 1) {
        int32_t count = (int32_t)batch;
        int64_t sd = m * n;
        cublasLtMatrixLayout_t ls[3] = {la, lb, ld};
        int64_t strides[3] = {A->batch_stride, B->batch_stride, sd};
        for (int i = 0; i < 3 && st == BORN_OK; i++) {
            st = lt_check(cublasLtMatrixLayoutSetAttribute(ls[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count), "layout");
            if (st == BORN_OK)
                st = lt_check(cublasLtMatrixLayoutSetAttribute(ls[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &strides[i], sizeof strides[i]), "layout");
        }
    }
    int align = alignment((uintptr_t)A->data | (uintptr_t)B->data | (uintptr_t)d,
                          A->ld * (int64_t)ty->size, B->ld * (int64_t)ty->size,
                          (A->batch_stride | B->batch_stride) * (int64_t)ty->size |
                              (out ? out->ld * (int64_t)out->size : 0));
    algo_key key;
    memset(&key, 0, sizeof key);
    key = (algo_key){(int)dtype * 2 + (ty->compute == CUBLAS_COMPUTE_32F_FAST_TF32), A->trans, B->trans, align,
                     ep ? (int)ep->kind : 0, out ? 1 + (int)out->type * 2 + (out->beta != 0.0f) : 0,
                     m, n, k, A->ld, B->ld, batch, A->batch_stride, B->batch_stride, out ? out->ld : 0};
    const size_t slot = key_slot(&key);
    cublasLtMatmulAlgo_t algo;
    bool have = false;
    pthread_mutex_lock(&g->lock);
    if (g->cache[slot].used && memcmp(&g->cache[slot].key, &key, sizeof key) == 0) {
        algo = g->cache[slot].algo;
        have = true;
    }
    pthread_mutex_unlock(&g->lock);
    if (st == BORN_OK && !have) {
        st = lt_check(cublasLtMatmulPreferenceCreate(&pref), "preference");
        uint64_t ws = WORKSPACE;
        uint32_t al = (uint32_t)align;
        if (st == BORN_OK)
            st = lt_check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws), "preference");
        cublasLtMatmulPreferenceAttributes_t which[4] = {
            CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
            CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
        for (int i = 0; i < 4 && st == BORN_OK; i++)
            st = lt_check(cublasLtMatmulPreferenceSetAttribute(pref, which[i], &al, sizeof al), "preference");
        cublasLtMatmulHeuristicResult_t res;
        int found = 0;
        if (st == BORN_OK) {
            cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(g->handle, op, la, lb, ld, ld, pref, 1, &res, &found);
            if (hs == CUBLAS_STATUS_NOT_SUPPORTED && ep && ep->quiet) found = 0;
            else st = lt_check(hs, "heuristic");
        }
        if (st == BORN_OK && found < 1 && ep && ep->quiet)
            st = BORN_ERR_UNSUPPORTED;
        else if (st == BORN_OK && found < 1)
            st = cuda_error(BORN_ERR_UNSUPPORTED, "matmul: cuBLASLt has no algorithm for %s [%lld, %lld] x [%lld, %lld]",
                            cuda_host->dtype_name(dtype), (long long)m, (long long)k, (long long)k, (long long)n);
        if (st == BORN_OK) {
            algo = res.algo;
            have = true;
            pthread_mutex_lock(&g->lock);
            g->cache[slot] = (algo_entry){key, algo, true};
            pthread_mutex_unlock(&g->lock);
        }
    }
    if (st == BORN_OK && have) {
        float one_f = 1, zero_f = 0;
        double one_d = 1, zero_d = 0;
        const void *alpha = ty->scale == CUDA_R_64F ? (const void *)&one_d : (const void *)&one_f;
        const void *beta = ty->scale == CUDA_R_64F ? (const void *)&zero_d : (const void *)&zero_f;
        if (out) beta = &out->beta; /* the f32 scale type of the float products */
        st = lt_check(cublasLtMatmul(g->handle, op, alpha, A->data, la, B->data, lb, beta, d, ld, d, ld,
                                     &algo, g->workspace, WORKSPACE, stream),
                      "matmul");
    }
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (ld) cublasLtMatrixLayoutDestroy(ld);
    if (op) cublasLtMatmulDescDestroy(op);
    return st;
}

/* A contiguous copy of x's last two dims for batch element at byte offset off (when its layout
 * has no unit stride); the caller frees it with cuda_mem_free. */
static char *contiguous_matrix(int dev, const born_strided *x, int64_t off, int64_t r, int64_t c,
                               size_t es) {
    char *buf = cuda_mem_alloc(dev, (size_t)(r * c) * es);
    if (!buf) return NULL;
    cu_strided dst = {buf, x->dtype, 2, {r, c}, {c, 1}};
    cu_strided src = {(char *)x->data + off, x->dtype, 2, {r, c},
                      {x->strides[x->ndim - 2], x->strides[x->ndim - 1]}};
    if (cuda_check(cu_copy(cuda_stream(dev), &dst, &src), "matmul") != BORN_OK) {
        cuda_mem_free(dev, buf);
        return NULL;
    }
    return buf;
}

born_status cuda_matmul(const born_strided *out, const born_strided *a, const born_strided *b) {
    int dev = cuda_device_of(out->data);
    gemm_types ty;
    if (!types_for(a->dtype, &ty))
        return cuda_error(BORN_ERR_DTYPE, "matmul: not defined for %s on CUDA",
                          cuda_host->dtype_name(a->dtype));
    int nd = out->ndim;
    int64_t m = a->shape[nd - 2], k = a->shape[nd - 1], n = b->shape[nd - 1];
    int64_t total = 1;
    for (int i = 0; i < nd; i++) total *= out->shape[i];
    if (total == 0) return BORN_OK;
    if (k == 0) return cuda_fill(out, 0.0);
    gemm_device *g = gemm_device_get(dev);
    if (!g) return BORN_ERR_DEVICE;

    /* batch dims coalesced (size 1 dropped, neighbours merged when all three agree); the
     * innermost becomes cuBLASLt's strided batch, the others a host loop */
    int bd = 0;
    int64_t bshape[BORN_MAX_DIMS], bs[3][BORN_MAX_DIMS];
    const born_strided *ops[3] = {out, a, b};
    for (int i = 0; i < nd - 2; i++) {
        int64_t s = out->shape[i];
        if (s == 1) continue;
        bool merge = bd > 0;
        for (int j = 0; j < 3 && merge; j++) merge = bs[j][bd - 1] == ops[j]->strides[i] * s;
        if (merge) {
            bshape[bd - 1] *= s;
            for (int j = 0; j < 3; j++) bs[j][bd - 1] = ops[j]->strides[i];
            continue;
        }
        bshape[bd] = s;
        for (int j = 0; j < 3; j++) bs[j][bd] = ops[j]->strides[i];
        bd++;
    }
    int64_t inner = bd ? bshape[bd - 1] : 1, outer = 1;
    for (int i = 0; i < bd - 1; i++) outer *= bshape[i];

    operand A, B; /* A: b's matrix, B: a's matrix */
    bool a_ok = describe(&B, NULL, m, k, a->strides[nd - 2], a->strides[nd - 1]);
    bool b_ok = describe(&A, NULL, k, n, b->strides[nd - 2], b->strides[nd - 1]);
    born_status st = BORN_OK;
    for (int64_t o = 0; o < outer && st == BORN_OK; o++) {
        int64_t off[3] = {0, 0, 0}, rem = o;
        for (int i = bd - 2; i >= 0; i--) {
            int64_t idx = rem % bshape[i];
            rem /= bshape[i];
            for (int j = 0; j < 3; j++) off[j] += idx * bs[j][i];
        }
        char *d = (char *)out->data + off[0] * (int64_t)ty.size;
        char *ta = NULL, *tb = NULL;
        int64_t batch = inner;
        if (a_ok && b_ok) {
            B.data = (const char *)a->data + off[1] * (int64_t)ty.size;
            A.data = (const char *)b->data + off[2] * (int64_t)ty.size;
            B.batch_stride = bd ? bs[1][bd - 1] : 0;
            A.batch_stride = bd ? bs[2][bd - 1] : 0;
            st = run_gemm(dev, g, &ty, a->dtype, &A, &B, d, m, n, k, batch, NULL, NULL);
            continue;
        }
        /* an operand without a unit stride: one product per batch element on copies */
        for (int64_t i = 0; i < inner && st == BORN_OK; i++) {
            int64_t ia = off[1] + (bd ? i * bs[1][bd - 1] : 0), ib = off[2] + (bd ? i * bs[2][bd - 1] : 0);
            operand Ai = A, Bi = B;
            if (!a_ok) {
                ta = contiguous_matrix(dev, a, ia * (int64_t)ty.size, m, k, ty.size);
                if (!ta) st = BORN_ERR_MEMORY;
                else describe(&Bi, ta, m, k, k, 1);
            } else {
                Bi.data = (const char *)a->data + ia * (int64_t)ty.size;
            }
            if (st == BORN_OK && !b_ok) {
                tb = contiguous_matrix(dev, b, ib * (int64_t)ty.size, k, n, ty.size);
                if (!tb) st = BORN_ERR_MEMORY;
                else describe(&Ai, tb, k, n, n, 1);
            } else if (st == BORN_OK) {
                Ai.data = (const char *)b->data + ib * (int64_t)ty.size;
            }
            Ai.batch_stride = Bi.batch_stride = 0;
            if (st == BORN_OK)
                st = run_gemm(dev, g, &ty, a->dtype, &Ai, &Bi,
                              d + (bd ? i * bs[0][bd - 1] : 0) * (int64_t)ty.size, m, n, k, 1, NULL, NULL);
            if (ta) cuda_mem_free(dev, ta);
            if (tb) cuda_mem_free(dev, tb);
            ta = tb = NULL;
        }
    }
    return st;
}

/* ---- linear layers with fused epilogues ------------------------------------------------------ */

/* The product's types for a fused linear entry, or false (quietly) where there is none. */
static bool linear_types(born_dtype t, gemm_types *ty) {
    return (t == BORN_F32 || t == BORN_F16 || t == BORN_BF16) && types_for(t, ty);
}

born_status cuda_linear_fused(const born_strided *out, const born_strided *pre,
                              const born_strided *x, const born_strided *w,
                              const born_strided *bias, bool gelu_tanh) {
    gemm_types ty;
    pthread_once(&gemm_once, gemm_init_once);
    if (!linear_types(x->dtype, &ty)) return BORN_ERR_UNSUPPORTED;
    int64_t r = x->shape[0], k = x->shape[1], n = w->shape[0];
    if (r == 0 || n == 0 || k == 0) return BORN_ERR_UNSUPPORTED;
    /* the aux matrix's leading dimension must be a multiple of 8 */
    if (gelu_tanh && n % 8) return BORN_ERR_UNSUPPORTED;
    int dev = cuda_device_of(out->data);
    gemm_device *g = gemm_device_get(dev);
    if (!g) return BORN_ERR_DEVICE;
    operand A, B; /* A: w^T [k, n] (strides 1, k), B: x [r, k] */
    if (!describe(&A, w->data, k, n, 1, k) || !describe(&B, x->data, r, k, x->strides[0], x->strides[1]))
        return BORN_ERR_UNSUPPORTED;
    A.batch_stride = B.batch_stride = 0;
    bool has_bias = bias && bias->data;
    epilogue ep = {CUBLASLT_EPILOGUE_DEFAULT, has_bias ? bias->data : NULL, NULL, 0, true};
    if (gelu_tanh) {
        ep.kind = has_bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
        ep.aux = pre->data;
        ep.aux_ld = n;
    } else if (has_bias) {
        ep.kind = CUBLASLT_EPILOGUE_BIAS;
    }
    return run_gemm(dev, g, &ty, x->dtype, &A, &B, out->data, r, n, k, 1, &ep, NULL);
}

born_status cuda_linear_weight_grad(const born_strided *grad_w, const born_strided *grad_bias,
                                    const born_strided *gout, const born_strided *x) {
    gemm_types ty;
    pthread_once(&gemm_once, gemm_init_once);
    if (!linear_types(x->dtype, &ty)) return BORN_ERR_UNSUPPORTED;
    int64_t r = x->shape[0], k = x->shape[1], n = gout->shape[1];
    if (r == 0 || n == 0 || k == 0) return BORN_ERR_UNSUPPORTED;
    int dev = cuda_device_of(grad_w->data);
    gemm_device *g = gemm_device_get(dev);
    if (!g) return BORN_ERR_DEVICE;
    /* grad_w [n, k] = g^T [n, r] x [r, k]: a = g^T (strides 1, g's row stride), b = x */
    operand A, B;
    if (!describe(&B, gout->data, n, r, gout->strides[1], gout->strides[0]) ||
        !describe(&A, x->data, r, k, x->strides[0], x->strides[1]))
        return BORN_ERR_UNSUPPORTED;
    A.batch_stride = B.batch_stride = 0;
    bool has_bias = grad_bias && grad_bias->data;
    epilogue ep = {has_bias ? CUBLASLT_EPILOGUE_BGRADB : CUBLASLT_EPILOGUE_DEFAULT,
                   has_bias ? grad_bias->data : NULL, NULL, 0, true};
    return run_gemm(dev, g, &ty, x->dtype, &A, &B, grad_w->data, n, k, r, 1, &ep, NULL);
}

/* ---- the LLM's batched prompt ------------------------------------------------------------------ */

born_status cuda_gemm_xwt(int dev, born_dtype t, const void *w, int64_t rows, const void *x,
                          int64_t n, int64_t k, float *out, int64_t ldo, bool accumulate) {
    gemm_types ty;
    pthread_once(&gemm_once, gemm_init_once);
    if (!linear_types(t, &ty))
        return cuda_error(BORN_ERR_DTYPE, "cuda LLM prompt: no product for %s weights",
                          cuda_host->dtype_name(t));
    if (t == BORN_F32) ty.compute = CUBLAS_COMPUTE_32F; /* exact f32 whatever BORN_ALLOW_TF32 says */
    gemm_device *g = gemm_device_get(dev);
    if (!g) return BORN_ERR_DEVICE;
    operand A, B; /* A: w^T [k, rows] (strides 1, k), B: x [n, k] */
    if (!describe(&A, w, k, rows, 1, k) || !describe(&B, x, n, k, k, 1))
        return cuda_error(BORN_ERR_UNSUPPORTED, "cuda LLM prompt: a [%lld, %lld] product",
                          (long long)n, (long long)rows);
    A.batch_stride = B.batch_stride = 0;
    const gemm_out o = {CUDA_R_32F, sizeof(float), ldo, accumulate ? 1.0f : 0.0f};
    return run_gemm(dev, g, &ty, t, &A, &B, (char *)out, n, rows, k, 1, NULL, &o);
}
