/* cuDNN's fused flash attention through the cuDNN 9 backend API, loaded with dlopen (see
 * cudnn_sdpa.h). The operation graphs are the ones cuDNN's fused-attention engines recognise (the
 * same nodes cudnn-frontend's SDPA builds, written here as backend descriptors):
 *   forward:  S = Q K^T (f32), S *= scale, [causal: S = (row + kv_offset >= col) ? S : -inf],
 *             m = max_row S, E = exp(S - m), l = sum_row E, Stats = m + log l, P = E / l (io type),
 *             O = P V;
 *   backward: D = sum_row(dO * O) (the softmax sum, in Born's delta buffer), S as above less Stats,
 *             E = exp(S) (= P), dV = P^T dO, dP = dO V^T, dS = (dP - D) * E * scale,
 *             dK = dS^T Q, dQ = dS K (f32 accumulator, then cast).
 * GQA sums the group's heads with a reduction. Plans are built once per shape and kept (up to
 * MAX_PLANS); cases cuDNN does not take (f32/f64, masks, dropout, negative kv offsets, misaligned
 * rows, fewer than MIN_QUERIES queries) and plans it refuses return BORN_ERR_UNSUPPORTED, and the
 * caller runs Born's kernels. */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/attention.h"
#include "backend/cuda/cuda_internal.h"
#include "backend/cuda/cudnn_sdpa.h"

cudnn_sdpa_mode cudnn_sdpa_mode_now(void) {
    const char *e = getenv("BORN_ATTENTION");
    if (e && strcmp(e, "born") == 0) return CUDNN_SDPA_OFF;
    if (e && strcmp(e, "cudnn") == 0) return CUDNN_SDPA_FORCE;
    return CUDNN_SDPA_AUTO;
}

static void say(char *why, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    const char *dbg = getenv("BORN_CUDNN_DEBUG");
    if (dbg && *dbg && strcmp(dbg, "0") != 0) fprintf(stderr, "born cudnn attention: %s\n", why);
}

#if defined(__has_include)
#if __has_include(<cudnn_graph.h>)
#define BORN_HAVE_CUDNN_HEADERS 1
#endif
#endif

#ifndef BORN_HAVE_CUDNN_HEADERS

born_status cudnn_sdpa_forward(const born_strided *out, const born_strided *lse,
                               const born_strided *q, const born_strided *k, const born_strided *v,
                               const born_strided *mask, const born_attention_args *a, char *why,
                               size_t n) {
    (void)out, (void)lse, (void)q, (void)k, (void)v, (void)mask, (void)a;
    say(why, n, "the CUDA plugin was built without cuDNN's headers");
    return BORN_ERR_UNSUPPORTED;
}

born_status cudnn_sdpa_backward(const born_strided *dq, const born_strided *dk,
                                const born_strided *dv, const born_strided *grad_out,
                                const born_strided *q, const born_strided *k, const born_strided *v,
                                const born_strided *mask, const born_strided *out,
                                const born_strided *lse, void *delta, const born_attention_args *a,
                                char *why, size_t n) {
    (void)dq, (void)dk, (void)dv, (void)grad_out, (void)q, (void)k, (void)v, (void)mask;
    (void)out, (void)lse, (void)delta, (void)a;
    say(why, n, "the CUDA plugin was built without cuDNN's headers");
    return BORN_ERR_UNSUPPORTED;
}

#else

#include <cudnn_graph.h>

/* ---- the library ---------------------------------------------------------------------------- */

typedef size_t (*fn_version)(void);
typedef const char *(*fn_error_string)(cudnnStatus_t);
typedef void (*fn_last_error)(char *, size_t);
typedef cudnnStatus_t (*fn_create)(cudnnHandle_t *);
typedef cudnnStatus_t (*fn_set_stream)(cudnnHandle_t, cudaStream_t);
typedef cudnnStatus_t (*fn_desc_create)(cudnnBackendDescriptorType_t, cudnnBackendDescriptor_t *);
typedef cudnnStatus_t (*fn_desc)(cudnnBackendDescriptor_t);
typedef cudnnStatus_t (*fn_set)(cudnnBackendDescriptor_t, cudnnBackendAttributeName_t,
                                cudnnBackendAttributeType_t, int64_t, const void *);
typedef cudnnStatus_t (*fn_get)(cudnnBackendDescriptor_t const, cudnnBackendAttributeName_t,
                                cudnnBackendAttributeType_t, int64_t, int64_t *, void *);
typedef cudnnStatus_t (*fn_execute)(cudnnHandle_t, cudnnBackendDescriptor_t,
                                    cudnnBackendDescriptor_t);

static struct {
    void *lib;
    char why[320]; /* why it did not load */
    size_t version;
    fn_version get_version;
    fn_error_string error_string;
    fn_last_error last_error;
    fn_create create;
    fn_set_stream set_stream;
    fn_desc_create desc_create;
    fn_desc desc_destroy, finalize;
    fn_set set;
    fn_get get;
    fn_execute execute;
    cudnnHandle_t handle[64]; /* per device, created at first use */
} dnn;

static pthread_once_t dnn_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t dnn_lock = PTHREAD_MUTEX_INITIALIZER;

/* dlsym into a function pointer without the object-to-function cast ISO C leaves undefined. */
static bool sym(void *dst, size_t size, const char *name) {
    void *p = dlsym(dnn.lib, name);
    if (!p) return false;
    memcpy(dst, &p, size);
    return true;
}
#define SYM(field, name) sym(&dnn.field, sizeof dnn.field, name)

static void dnn_load(void) {
    /* cuDNN 9 splits into a graph library that loads its engine libraries by name; from a
     * directory, load them all first (RTLD_GLOBAL) so that those loads find them */
    static const char *const libs[] = {"libcudnn_graph.so.9",
                                       "libcudnn_engines_precompiled.so.9",
                                       "libcudnn_engines_runtime_compiled.so.9",
                                       "libcudnn_heuristic.so.9",
                                       "libcudnn_ops.so.9",
                                       "libcudnn_cnn.so.9",
                                       "libcudnn_adv.so.9",
                                       "libcudnn.so.9"};
    const char *dir = getenv("BORN_CUDNN_PATH");
    char path[4096];
    /* the runtime-compiled engines need NVRTC: PyTorch's wheels keep it beside cuDNN's folder,
     * the toolkit in its lib64 (this plugin's run path, which a load by name from here searches) */
    static const char *const rtc[] = {"libnvrtc.so.13", "libnvrtc-builtins.so.13.0", "libnvrtc.so.12"};
    for (size_t i = 0; i < sizeof rtc / sizeof rtc[0]; i++) {
        void *h = NULL;
        if (dir && *dir) {
            snprintf(path, sizeof path, "%s/../../cuda_nvrtc/lib/%s", dir, rtc[i]);
            h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
        }
        if (!h) h = dlopen(rtc[i], RTLD_NOW | RTLD_GLOBAL);
        if (h && i == 1) break; /* 13 found: skip 12 */
    }
    if (dir && *dir) {
        for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, libs[i]);
            void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
            if (h && !dnn.lib) dnn.lib = h;
        }
        if (!dnn.lib) {
            const char *e = dlerror();
            snprintf(dnn.why, sizeof dnn.why, "cuDNN did not load from BORN_CUDNN_PATH=%s (%s)", dir,
                     e ? e : "no libcudnn_graph.so.9 or libcudnn.so.9 there");
            return;
        }
    } else {
        dnn.lib = dlopen("libcudnn_graph.so.9", RTLD_NOW | RTLD_GLOBAL);
        if (!dnn.lib) dnn.lib = dlopen("libcudnn.so.9", RTLD_NOW | RTLD_GLOBAL);
        if (!dnn.lib) {
            const char *e = dlerror();
            snprintf(dnn.why, sizeof dnn.why, "cuDNN 9 is not installed (%s)", e ? e : "dlopen failed");
            return;
        }
    }
    if (!SYM(get_version, "cudnnGetVersion") || !SYM(error_string, "cudnnGetErrorString") ||
        !SYM(create, "cudnnCreate") || !SYM(set_stream, "cudnnSetStream") ||
        !SYM(desc_create, "cudnnBackendCreateDescriptor") ||
        !SYM(desc_destroy, "cudnnBackendDestroyDescriptor") ||
        !SYM(finalize, "cudnnBackendFinalize") || !SYM(set, "cudnnBackendSetAttribute") ||
        !SYM(get, "cudnnBackendGetAttribute") || !SYM(execute, "cudnnBackendExecute")) {
        snprintf(dnn.why, sizeof dnn.why, "the cuDNN library found lacks the backend API");
        dnn.lib = NULL;
        return;
    }
    (void)SYM(last_error, "cudnnGetLastErrorString"); /* optional */
    dnn.version = dnn.get_version();
    if (dnn.version < 90000) {
        snprintf(dnn.why, sizeof dnn.why, "cuDNN %zu is older than 9.0", dnn.version);
        dnn.lib = NULL;
    }
}

/* The handle of device dev, on its stream (under dnn_lock). */
static cudnnHandle_t dnn_handle(int dev, char *why, size_t n) {
    if (dev < 0 || dev >= 64) {
        say(why, n, "device %d is past the 64 this path handles", dev);
        return NULL;
    }
    if (!dnn.handle[dev]) {
        cudaStream_t s = cuda_stream(dev);
        cudnnHandle_t h = NULL;
        cudnnStatus_t st = dnn.create(&h);
        if (st == CUDNN_STATUS_SUCCESS) st = dnn.set_stream(h, s);
        if (st != CUDNN_STATUS_SUCCESS) {
            say(why, n, "cudnnCreate: %s", dnn.error_string(st));
            return NULL;
        }
        dnn.handle[dev] = h;
    }
    return dnn.handle[dev];
}

/* ---- graph building --------------------------------------------------------------------------- */

enum {
    U_Q = 1, U_K, U_V, U_O, U_STATS, U_SCALE, U_NEGINF, U_SHIFT, U_DO, U_DQ, U_DK, U_DV, U_SUM,
    U_DQACC, U_ONE, U_VIRTUAL = 100
};

#define MAX_DESC 256
#define MAX_OPS 48

typedef struct gb {
    cudnnBackendDescriptor_t desc[MAX_DESC]; /* everything made, destroyed together */
    int ndesc;
    cudnnBackendDescriptor_t ops[MAX_OPS];
    int nops;
    int64_t next_uid;
    cudnnStatus_t status; /* the first failure */
    const char *failed;   /* where */
} gb;

static cudnnBackendDescriptor_t make(gb *g, cudnnBackendDescriptorType_t type, const char *what) {
    if (g->status != CUDNN_STATUS_SUCCESS) return NULL;
    if (g->ndesc == MAX_DESC) {
        g->status = CUDNN_STATUS_INTERNAL_ERROR;
        g->failed = "descriptor table full";
        return NULL;
    }
    cudnnBackendDescriptor_t d = NULL;
    cudnnStatus_t st = dnn.desc_create(type, &d);
    if (st != CUDNN_STATUS_SUCCESS) {
        g->status = st;
        g->failed = what;
        return NULL;
    }
    g->desc[g->ndesc++] = d;
    return d;
}

static void set(gb *g, cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                cudnnBackendAttributeType_t type, int64_t count, const void *value, const char *what) {
    if (g->status != CUDNN_STATUS_SUCCESS || !d) return;
    cudnnStatus_t st = dnn.set(d, name, type, count, value);
    if (st != CUDNN_STATUS_SUCCESS) {
        g->status = st;
        g->failed = what;
    }
}

static void fin(gb *g, cudnnBackendDescriptor_t d, const char *what) {
    if (g->status != CUDNN_STATUS_SUCCESS || !d) return;
    cudnnStatus_t st = dnn.finalize(d);
    if (st != CUDNN_STATUS_SUCCESS) {
        g->status = st;
        g->failed = what;
    }
}

static void gb_free(gb *g) {
    for (int i = g->ndesc - 1; i >= 0; i--) dnn.desc_destroy(g->desc[i]);
    g->ndesc = 0;
}

/* A 4-d tensor; uid 0 makes a virtual one with the next free uid. */
static cudnnBackendDescriptor_t tensor(gb *g, int64_t uid, cudnnDataType_t dt, int64_t d0, int64_t d1,
                                       int64_t d2, int64_t d3, const int64_t *strides) {
    cudnnBackendDescriptor_t t = make(g, CUDNN_BACKEND_TENSOR_DESCRIPTOR, "tensor");
    bool virt = uid == 0;
    if (virt) uid = g->next_uid++;
    int64_t dims[4] = {d0, d1, d2, d3}, st[4], align = 16;
    if (strides) {
        memcpy(st, strides, sizeof st);
    } else { /* row-major */
        st[3] = 1;
        st[2] = d3;
        st[1] = d2 * d3;
        st[0] = d1 * d2 * d3;
    }
    set(g, t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt, "tensor dtype");
    set(g, t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims, "tensor dims");
    set(g, t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, st, "tensor strides");
    set(g, t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, "tensor uid");
    set(g, t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align, "tensor alignment");
    if (virt) set(g, t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt, "tensor virtual");
    fin(g, t, "tensor");
    return t;
}

/* A scalar passed by value at execution (a host pointer in the variant pack). */
static cudnnBackendDescriptor_t scalar(gb *g, int64_t uid, cudnnDataType_t dt) {
    cudnnBackendDescriptor_t t = make(g, CUDNN_BACKEND_TENSOR_DESCRIPTOR, "scalar");
    int64_t one[4] = {1, 1, 1, 1}, align = 16;
    bool by_value = true;
    set(g, t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt, "scalar dtype");
    set(g, t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, one, "scalar dims");
    set(g, t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, one, "scalar strides");
    set(g, t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, "scalar uid");
    set(g, t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align, "scalar alignment");
    set(g, t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value, "scalar by value");
    fin(g, t, "scalar");
    return t;
}

static void add_op(gb *g, cudnnBackendDescriptor_t op) {
    if (g->status != CUDNN_STATUS_SUCCESS || !op) return;
    if (g->nops == MAX_OPS) {
        g->status = CUDNN_STATUS_INTERNAL_ERROR;
        g->failed = "operation table full";
        return;
    }
    g->ops[g->nops++] = op;
}

/* y = mode(x[, b[, t]]) computed in prec; axis >= 0 for GEN_INDEX (and as cudnn-frontend sets it
 * on the index arithmetic). */
static void pointwise(gb *g, cudnnPointwiseMode_t mode, cudnnDataType_t prec, int64_t axis,
                      cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t b,
                      cudnnBackendDescriptor_t t, cudnnBackendDescriptor_t y) {
    cudnnBackendDescriptor_t pw = make(g, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, "pointwise");
    set(g, pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, "pointwise mode");
    set(g, pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec, "pointwise precision");
    if (axis >= 0) set(g, pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis, "pointwise axis");
    fin(g, pw, "pointwise descriptor");
    cudnnBackendDescriptor_t op = make(g, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, "pointwise op");
    float one = 1.f;
    set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw, "pw");
    set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "pw x");
    if (b) set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b, "pw b");
    if (t) set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &t, "pw t");
    set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "pw y");
    set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_ALPHA1, CUDNN_TYPE_FLOAT, 1, &one, "pw alpha1");
    set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_ALPHA2, CUDNN_TYPE_FLOAT, 1, &one, "pw alpha2");
    fin(g, op, "pointwise op");
    add_op(g, op);
}

/* c = a b (batched over the first two dims, f32 accumulation). */
static void matmul(gb *g, cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t b,
                   cudnnBackendDescriptor_t c) {
    cudnnBackendDescriptor_t mm = make(g, CUDNN_BACKEND_MATMUL_DESCRIPTOR, "matmul");
    cudnnDataType_t f = CUDNN_DATA_FLOAT;
    set(g, mm, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f, "matmul type");
    fin(g, mm, "matmul descriptor");
    cudnnBackendDescriptor_t op = make(g, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR, "matmul op");
    set(g, op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a, "matmul a");
    set(g, op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b, "matmul b");
    set(g, op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c, "matmul c");
    set(g, op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &mm, "matmul desc");
    fin(g, op, "matmul op");
    add_op(g, op);
}

static void reduction(gb *g, cudnnReduceTensorOp_t mode, cudnnBackendDescriptor_t x,
                      cudnnBackendDescriptor_t y) {
    cudnnBackendDescriptor_t r = make(g, CUDNN_BACKEND_REDUCTION_DESCRIPTOR, "reduction");
    cudnnDataType_t f = CUDNN_DATA_FLOAT;
    set(g, r, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f, "reduction type");
    set(g, r, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode, "reduction op");
    fin(g, r, "reduction descriptor");
    cudnnBackendDescriptor_t op = make(g, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR, "reduction op");
    set(g, op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &r, "reduction desc");
    set(g, op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "reduction x");
    set(g, op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "reduction y");
    fin(g, op, "reduction op");
    add_op(g, op);
}

static void reshape(gb *g, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t y) {
    cudnnBackendDescriptor_t op = make(g, CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR, "reshape op");
    set(g, op, CUDNN_ATTR_OPERATION_RESHAPE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x, "reshape x");
    set(g, op, CUDNN_ATTR_OPERATION_RESHAPE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y, "reshape y");
    fin(g, op, "reshape op");
    add_op(g, op);
}

/* ---- the shapes ------------------------------------------------------------------------------- */

typedef struct geom {
    bool backward;
    cudnnDataType_t dt;
    int64_t b, hq, hk, l, s, e, ev;
    bool causal, shift; /* shift: causal with a kv offset > 0 */
    int64_t qs[4], ks[4], vs[4], os[4];  /* q, k, v, out */
    int64_t gs[4], dqs[4], dks[4], dvs[4]; /* grad_out, dq, dk, dv (backward) */
} geom;

/* The [B, H, rows, D] strides of an operand (a 4-d view, or dense of any rank), 16-byte rows. */
static bool op_strides(const born_strided *t, int64_t h, int64_t rows, int64_t d, int64_t *s) {
    if (((uintptr_t)t->data & 15) != 0) return false;
    if (t->ndim == 4) {
        for (int i = 0; i < 4; i++) s[i] = t->strides[i];
        if (t->shape[3] > 1 && s[3] != 1) return false;
        s[3] = 1;
        for (int i = 0; i < 3; i++)
            if (s[i] % 8) return false;
        return true;
    }
    if (!cu_dense((const cu_strided *)t)) return false;
    s[3] = 1;
    s[2] = d;
    s[1] = rows * d;
    s[0] = h * rows * d;
    return true;
}

/* Calls with fewer queries run on Born's kernel, and so do new shapes once MAX_PLANS plans are
 * cached: cuDNN compiles each plan (tens to hundreds of ms), which pays off only when a shape
 * repeats, as in training. */
#define MIN_QUERIES 16
#define MAX_PLANS 256

/* Whether cuDNN's fused attention serves the call (the checks that need no library). */
static bool fits(const born_strided *q, const born_strided *k, const born_strided *v,
                 const born_strided *mask, const born_attention_args *a, geom *g, char *why,
                 size_t n) {
    if (q->dtype != BORN_F16 && q->dtype != BORN_BF16) {
        say(why, n, "dtype %s (cuDNN's fused attention takes f16/bf16)", cuda_host->dtype_name(q->dtype));
        return false;
    }
    if (k->dtype != q->dtype || v->dtype != q->dtype) {
        say(why, n, "mixed dtypes");
        return false;
    }
    if ((mask && mask->data) || a->mask_kind != 0 || a->dropout_p > 0) {
        say(why, n, "masks and dropout run on Born's kernel");
        return false;
    }
    if (a->causal && a->kv_offset < 0) {
        say(why, n, "causal with a negative kv offset (rows that see no key)");
        return false;
    }
    if (a->head_dim % 8 || a->v_dim % 8 || a->head_dim > 256 || a->v_dim > 256) {
        say(why, n, "head sizes %lld/%lld (cuDNN takes multiples of 8 up to 256)",
            (long long)a->head_dim, (long long)a->v_dim);
        return false;
    }
    if (a->q_len < MIN_QUERIES) {
        /* decode steps: a plan per key length, each compiled at first use, would cost more than
         * the step */
        say(why, n, "%lld queries (under %d run on Born's kernel)", (long long)a->q_len, MIN_QUERIES);
        return false;
    }
    if (a->q_len < 1 || a->kv_len < 1 || a->batch < 1 || a->kv_heads < 1 ||
        a->q_heads % a->kv_heads) {
        say(why, n, "empty or irregular shape");
        return false;
    }
    memset(g, 0, sizeof *g);
    g->dt = q->dtype == BORN_F16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
    g->b = a->batch;
    g->hq = a->q_heads;
    g->hk = a->kv_heads;
    g->l = a->q_len;
    g->s = a->kv_len;
    g->e = a->head_dim;
    g->ev = a->v_dim;
    g->causal = a->causal;
    g->shift = a->causal && a->kv_offset > 0;
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4 ||
        !op_strides(q, g->hq, g->l, g->e, g->qs) || !op_strides(k, g->hk, g->s, g->e, g->ks) ||
        !op_strides(v, g->hk, g->s, g->ev, g->vs)) {
        say(why, n, "q/k/v rows are not 16-byte aligned with stride 1 along the head");
        return false;
    }
    return true;
}

/* ---- plans ------------------------------------------------------------------------------------ */

typedef struct plan {
    geom key;
    int dev;
    gb g;
    cudnnBackendDescriptor_t exec;
    int64_t workspace;
    struct plan *next;
} plan;

static plan *plans; /* under dnn_lock */
static int nplans;

static bool geom_eq(const geom *a, const geom *b) {
    return memcmp(a, b, sizeof *a) == 0;
}

/* The forward graph (see the top of the file). */
static void build_forward(gb *g, const geom *m) {
    const cudnnDataType_t F = CUDNN_DATA_FLOAT, I = CUDNN_DATA_INT32, B = CUDNN_DATA_BOOLEAN;
    int64_t kt[4] = {m->ks[0], m->ks[1], m->ks[3], m->ks[2]};
    int64_t stat_st[4] = {m->hq * m->l, m->l, 1, 1};
    cudnnBackendDescriptor_t q = tensor(g, U_Q, m->dt, m->b, m->hq, m->l, m->e, m->qs);
    cudnnBackendDescriptor_t k = tensor(g, U_K, m->dt, m->b, m->hk, m->e, m->s, kt);
    cudnnBackendDescriptor_t v = tensor(g, U_V, m->dt, m->b, m->hk, m->s, m->ev, m->vs);
    cudnnBackendDescriptor_t o = tensor(g, U_O, m->dt, m->b, m->hq, m->l, m->ev, m->os);
    cudnnBackendDescriptor_t stats = tensor(g, U_STATS, F, m->b, m->hq, m->l, 1, stat_st);
    cudnnBackendDescriptor_t scale = scalar(g, U_SCALE, F);
#define SCORES(dt) tensor(g, 0, dt, m->b, m->hq, m->l, m->s, NULL)
#define ROWS() tensor(g, 0, F, m->b, m->hq, m->l, 1, NULL)
    cudnnBackendDescriptor_t s1 = SCORES(F), s2 = SCORES(F);
    matmul(g, q, k, s1);
    pointwise(g, CUDNN_POINTWISE_MUL, F, -1, s1, scale, NULL, s2);
    if (m->causal) {
        cudnnBackendDescriptor_t neginf = scalar(g, U_NEGINF, F);
        cudnnBackendDescriptor_t row = SCORES(I), col = SCORES(I), mask = SCORES(B), s3 = SCORES(F);
        pointwise(g, CUDNN_POINTWISE_GEN_INDEX, F, 2, s2, NULL, NULL, row);
        pointwise(g, CUDNN_POINTWISE_GEN_INDEX, F, 3, s2, NULL, NULL, col);
        if (m->shift) {
            cudnnBackendDescriptor_t shift = scalar(g, U_SHIFT, I), row2 = SCORES(I);
            pointwise(g, CUDNN_POINTWISE_ADD, I, 3, row, shift, NULL, row2);
            row = row2;
        }
        pointwise(g, CUDNN_POINTWISE_CMP_GE, B, -1, row, col, NULL, mask);
        pointwise(g, CUDNN_POINTWISE_BINARY_SELECT, F, -1, s2, neginf, mask, s3);
        s2 = s3;
    }
    cudnnBackendDescriptor_t mx = ROWS(), sub = SCORES(F), ex = SCORES(F), sum = ROWS(), lg = ROWS();
    cudnnBackendDescriptor_t p = SCORES(m->dt);
    reduction(g, CUDNN_REDUCE_TENSOR_MAX, s2, mx);
    pointwise(g, CUDNN_POINTWISE_SUB, F, -1, s2, mx, NULL, sub);
    pointwise(g, CUDNN_POINTWISE_EXP, F, -1, sub, NULL, NULL, ex);
    reduction(g, CUDNN_REDUCE_TENSOR_ADD, ex, sum);
    pointwise(g, CUDNN_POINTWISE_LOG, F, -1, sum, NULL, NULL, lg);
    pointwise(g, CUDNN_POINTWISE_ADD, F, -1, mx, lg, NULL, stats);
    pointwise(g, CUDNN_POINTWISE_DIV, F, -1, ex, sum, NULL, p);
    matmul(g, p, v, o);
}

/* The backward graph (see the top of the file). */
static void build_backward(gb *g, const geom *m) {
    const cudnnDataType_t F = CUDNN_DATA_FLOAT, I = CUDNN_DATA_INT32, B = CUDNN_DATA_BOOLEAN;
    int64_t kt[4] = {m->ks[0], m->ks[1], m->ks[3], m->ks[2]};
    int64_t vt[4] = {m->vs[0], m->vs[1], m->vs[3], m->vs[2]};
    int64_t stat_st[4] = {m->hq * m->l, m->l, 1, 1};
    int64_t tr[4] = {m->hq * m->l * m->s, m->l * m->s, 1, m->s}; /* [b, hq, s, l] over scores */
    int64_t dodo[4] = {m->hq * m->l * m->ev, m->l * m->ev, m->hq * m->ev, 1};
    cudnnBackendDescriptor_t q = tensor(g, U_Q, m->dt, m->b, m->hq, m->l, m->e, m->qs);
    cudnnBackendDescriptor_t k = tensor(g, U_K, m->dt, m->b, m->hk, m->e, m->s, kt);
    cudnnBackendDescriptor_t v = tensor(g, U_V, m->dt, m->b, m->hk, m->ev, m->s, vt);
    cudnnBackendDescriptor_t o = tensor(g, U_O, m->dt, m->b, m->hq, m->l, m->ev, m->os);
    cudnnBackendDescriptor_t dout = tensor(g, U_DO, m->dt, m->b, m->hq, m->l, m->ev, m->gs);
    cudnnBackendDescriptor_t stats = tensor(g, U_STATS, F, m->b, m->hq, m->l, 1, stat_st);
    cudnnBackendDescriptor_t sum = tensor(g, U_SUM, F, m->b, m->hq, m->l, 1, stat_st);
    cudnnBackendDescriptor_t dq = tensor(g, U_DQ, m->dt, m->b, m->hq, m->l, m->e, m->dqs);
    cudnnBackendDescriptor_t dk = tensor(g, U_DK, m->dt, m->b, m->hk, m->s, m->e, m->dks);
    cudnnBackendDescriptor_t dv = tensor(g, U_DV, m->dt, m->b, m->hk, m->s, m->ev, m->dvs);
    cudnnBackendDescriptor_t dqacc = tensor(g, U_DQACC, F, m->b, m->hq, m->l, m->e, NULL);
    cudnnBackendDescriptor_t scale = scalar(g, U_SCALE, F), one = scalar(g, U_ONE, F);
    /* the softmax sum D = sum_row(dO * O) */
    cudnnBackendDescriptor_t dodot = tensor(g, 0, F, m->b, m->hq, m->l, m->ev, dodo), red = ROWS();
    pointwise(g, CUDNN_POINTWISE_MUL, F, -1, dout, o, NULL, dodot);
    reduction(g, CUDNN_REDUCE_TENSOR_ADD, dodot, red);
    pointwise(g, CUDNN_POINTWISE_MUL, F, -1, red, one, NULL, sum);
    /* P = exp(S * scale - Stats), masked */
    cudnnBackendDescriptor_t s1 = SCORES(F), s2 = SCORES(F), s3 = SCORES(F);
    matmul(g, q, k, s1);
    pointwise(g, CUDNN_POINTWISE_MUL, F, -1, s1, scale, NULL, s2);
    pointwise(g, CUDNN_POINTWISE_SUB, F, -1, s2, stats, NULL, s3);
    if (m->causal) {
        cudnnBackendDescriptor_t neginf = scalar(g, U_NEGINF, F);
        cudnnBackendDescriptor_t row = SCORES(I), col = SCORES(I), mask = SCORES(B), s4 = SCORES(F);
        pointwise(g, CUDNN_POINTWISE_GEN_INDEX, F, 2, s3, NULL, NULL, row);
        pointwise(g, CUDNN_POINTWISE_GEN_INDEX, F, 3, s3, NULL, NULL, col);
        if (m->shift) {
            cudnnBackendDescriptor_t shift = scalar(g, U_SHIFT, I), row2 = SCORES(I);
            pointwise(g, CUDNN_POINTWISE_ADD, I, 3, row, shift, NULL, row2);
            row = row2;
        }
        pointwise(g, CUDNN_POINTWISE_CMP_GE, B, -1, row, col, NULL, mask);
        pointwise(g, CUDNN_POINTWISE_BINARY_SELECT, F, -1, s3, neginf, mask, s4);
        s3 = s4;
    }
    cudnnBackendDescriptor_t p = SCORES(F);
    pointwise(g, CUDNN_POINTWISE_EXP, F, -1, s3, NULL, NULL, p);
    /* dV = P^T dO (summed over the group's heads for GQA) */
    cudnnBackendDescriptor_t pt = tensor(g, 0, m->dt, m->b, m->hq, m->s, m->l, tr);
    reshape(g, p, pt);
    if (m->hq == m->hk) {
        matmul(g, pt, dout, dv);
    } else {
        cudnnBackendDescriptor_t dvf = tensor(g, 0, m->dt, m->b, m->hq, m->s, m->ev, NULL);
        matmul(g, pt, dout, dvf);
        reduction(g, CUDNN_REDUCE_TENSOR_ADD, dvf, dv);
    }
    /* dS = (dO V^T - D) * P * scale */
    cudnnBackendDescriptor_t dp = SCORES(F), d1 = SCORES(F), d2 = SCORES(F), ds = SCORES(F);
    matmul(g, dout, v, dp);
    pointwise(g, CUDNN_POINTWISE_SUB, F, -1, dp, sum, NULL, d1);
    pointwise(g, CUDNN_POINTWISE_MUL, F, -1, d1, p, NULL, d2);
    pointwise(g, CUDNN_POINTWISE_MUL, F, -1, d2, scale, NULL, ds);
    /* dK = dS^T Q */
    cudnnBackendDescriptor_t dst = tensor(g, 0, m->dt, m->b, m->hq, m->s, m->l, tr);
    reshape(g, ds, dst);
    if (m->hq == m->hk) {
        matmul(g, dst, q, dk);
    } else {
        cudnnBackendDescriptor_t dkf = tensor(g, 0, m->dt, m->b, m->hq, m->s, m->e, NULL);
        matmul(g, dst, q, dkf);
        reduction(g, CUDNN_REDUCE_TENSOR_ADD, dkf, dk);
    }
    /* dQ = dS K, accumulated in f32 */
    cudnnBackendDescriptor_t kr = tensor(g, 0, m->dt, m->b, m->hk, m->s, m->e, m->ks);
    reshape(g, k, kr);
    matmul(g, ds, kr, dqacc);
    pointwise(g, CUDNN_POINTWISE_IDENTITY, F, -1, dqacc, NULL, NULL, dq);
}
#undef SCORES
#undef ROWS

static const char *status_text(cudnnStatus_t st) {
    return dnn.error_string ? dnn.error_string(st) : "?";
}

/* The cached plan of m on device dev, built (graph, heuristics, first engine that finalizes) on
 * first use; NULL with why filled when cuDNN declines. Under dnn_lock. */
static plan *get_plan(int dev, const geom *m, char *why, size_t n) {
    for (plan *p = plans; p; p = p->next)
        if (p->dev == dev && geom_eq(&p->key, m)) {
            if (!p->exec) say(why, n, "cuDNN %zu refused this shape's plan at its first call", dnn.version);
            return p->exec ? p : NULL;
        }
    if (nplans >= MAX_PLANS) {
        say(why, n, "%d cuDNN plans are cached: new shapes run on Born's kernel", MAX_PLANS);
        return NULL;
    }
    cudnnHandle_t h = dnn_handle(dev, why, n);
    if (!h) return NULL;
    plan *p = calloc(1, sizeof *p);
    if (!p) {
        say(why, n, "out of host memory");
        return NULL;
    }
    p->key = *m;
    p->dev = dev;
    gb *g = &p->g;
    g->next_uid = U_VIRTUAL;
    if (m->backward)
        build_backward(g, m);
    else
        build_forward(g, m);
    cudnnBackendDescriptor_t og = make(g, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "operation graph");
    set(g, og, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h, "graph handle");
    set(g, og, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, g->nops, g->ops, "graph ops");
    fin(g, og, "operation graph");
    const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
    cudnnStatus_t graph_status = g->status;
    const char *graph_failed = g->failed;
    for (int mi = 0; mi < 2 && graph_status == CUDNN_STATUS_SUCCESS && !p->exec; mi++) {
        /* the heuristics' descriptors join the plan's (the plan refers to its engine config) */
        g->status = CUDNN_STATUS_SUCCESS;
        cudnnBackendDescriptor_t heur = make(g, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, "heuristics");
        set(g, heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &og, "heur graph");
        set(g, heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &modes[mi], "heur mode");
        fin(g, heur, "heuristics");
        int64_t count = 0, got = 0, one = 0;
        if (g->status == CUDNN_STATUS_SUCCESS &&
            dnn.get(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, NULL) !=
                CUDNN_STATUS_SUCCESS)
            count = 0;
        if (count > 8) count = 8;
        cudnnBackendDescriptor_t cfg[8];
        int ncfg = 0;
        for (int64_t i = 0; i < count && g->status == CUDNN_STATUS_SUCCESS; i++) {
            cfg[ncfg] = make(g, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine config");
            if (cfg[ncfg]) ncfg++;
        }
        if (ncfg > 0 && g->status == CUDNN_STATUS_SUCCESS &&
            dnn.get(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, ncfg, &got, cfg) !=
                CUDNN_STATUS_SUCCESS)
            got = 0;
        for (int64_t i = 0; i < got && i < ncfg && !p->exec; i++) {
            cudnnBackendDescriptor_t ex = NULL;
            if (dnn.desc_create(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &ex) != CUDNN_STATUS_SUCCESS) break;
            int64_t ws = 0;
            if (dnn.set(ex, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h) == CUDNN_STATUS_SUCCESS &&
                dnn.set(ex, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg[i]) ==
                    CUDNN_STATUS_SUCCESS &&
                dnn.finalize(ex) == CUDNN_STATUS_SUCCESS &&
                dnn.get(ex, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &one, &ws) ==
                    CUDNN_STATUS_SUCCESS) {
                p->exec = ex;
                p->workspace = ws;
            } else {
                dnn.desc_destroy(ex);
            }
        }
        if (!p->exec && g->status == CUDNN_STATUS_SUCCESS) {
            g->status = CUDNN_STATUS_NOT_SUPPORTED;
            g->failed = got > 0 ? "every engine's plan" : "heuristics (no engine)";
        }
    }
    if (graph_status != CUDNN_STATUS_SUCCESS) {
        g->status = graph_status;
        g->failed = graph_failed;
    }
    char last[256] = "";
    if (!p->exec && dnn.last_error) dnn.last_error(last, sizeof last);
    if (!p->exec) gb_free(g); /* a plan keeps its graph's descriptors alive with it */
    p->next = plans;
    plans = p; /* a refusal is remembered too: no second try for this shape */
    nplans++;
    if (!p->exec) {
        say(why, n, "cuDNN %zu, %s graph: %s failed: %s %s", dnn.version,
            m->backward ? "backward" : "forward", g->failed, status_text(g->status), last);
        return NULL;
    }
    return p;
}

/* Runs plan p with the pointers of uids (count n) and a workspace from the caching allocator. */
static born_status run_plan(int dev, plan *p, int nu, const int64_t *uids, void *const *ptrs,
                            char *why, size_t n) {
    void *ws = NULL;
    if (p->workspace > 0) {
        ws = cuda_mem_alloc(dev, (size_t)p->workspace);
        if (!ws) return BORN_ERR_MEMORY; /* cuda_mem_alloc recorded the sizes */
    }
    gb g = {0};
    cudnnBackendDescriptor_t vp = make(&g, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, "variant pack");
    set(&g, vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, nu, uids, "pack uids");
    set(&g, vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, nu, ptrs, "pack pointers");
    set(&g, vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws, "pack workspace");
    fin(&g, vp, "variant pack");
    cudnnStatus_t st = g.status;
    if (st == CUDNN_STATUS_SUCCESS) st = dnn.execute(dnn.handle[dev], p->exec, vp);
    gb_free(&g);
    if (ws) cuda_mem_free(dev, ws); /* stream-ordered: reused only by later work */
    if (st != CUDNN_STATUS_SUCCESS) {
        char last[256] = "";
        if (dnn.last_error) dnn.last_error(last, sizeof last);
        say(why, n, "cuDNN execute: %s %s", status_text(st), last);
        return BORN_ERR_UNSUPPORTED;
    }
    return BORN_OK;
}

/* Loads cuDNN (once) and takes the lock; false with why filled when it is absent. */
static bool dnn_enter(char *why, size_t n) {
    pthread_once(&dnn_once, dnn_load);
    if (!dnn.lib) {
        say(why, n, "%s", dnn.why);
        return false;
    }
    pthread_mutex_lock(&dnn_lock);
    return true;
}

born_status cudnn_sdpa_forward(const born_strided *out, const born_strided *lse,
                               const born_strided *q, const born_strided *k, const born_strided *v,
                               const born_strided *mask, const born_attention_args *a, char *why,
                               size_t n) {
    geom m;
    if (!fits(q, k, v, mask, a, &m, why, n)) return BORN_ERR_UNSUPPORTED;
    if (out->dtype != q->dtype || !op_strides(out, m.hq, m.l, m.ev, m.os) || !cu_dense((const cu_strided *)lse)) {
        say(why, n, "the output is not a 16-byte aligned view");
        return BORN_ERR_UNSUPPORTED;
    }
    if (!dnn_enter(why, n)) return BORN_ERR_UNSUPPORTED;
    int dev = cuda_device_of(out->data);
    born_status st = BORN_ERR_UNSUPPORTED;
    plan *p = get_plan(dev, &m, why, n);
    if (p) {
        float scale = (float)a->scale, neginf = -INFINITY;
        int32_t shift = (int32_t)a->kv_offset;
        if (dnn.version < 91000) neginf = -3.402823466e38f; /* older releases want lowest() */
        int64_t uids[8] = {U_Q, U_K, U_V, U_O, U_STATS, U_SCALE, U_NEGINF, U_SHIFT};
        void *ptrs[8] = {q->data, k->data, v->data, out->data, lse->data, &scale, &neginf, &shift};
        int nu = m.causal ? (m.shift ? 8 : 7) : 6;
        st = run_plan(dev, p, nu, uids, ptrs, why, n);
    }
    pthread_mutex_unlock(&dnn_lock);
    return st;
}

born_status cudnn_sdpa_backward(const born_strided *dq, const born_strided *dk,
                                const born_strided *dv, const born_strided *grad_out,
                                const born_strided *q, const born_strided *k, const born_strided *v,
                                const born_strided *mask, const born_strided *out,
                                const born_strided *lse, void *delta, const born_attention_args *a,
                                char *why, size_t n) {
    geom m;
    if (!fits(q, k, v, mask, a, &m, why, n)) return BORN_ERR_UNSUPPORTED;
    m.backward = true;
    if (!op_strides(out, m.hq, m.l, m.ev, m.os) || !op_strides(grad_out, m.hq, m.l, m.ev, m.gs) ||
        !op_strides(dq, m.hq, m.l, m.e, m.dqs) || !op_strides(dk, m.hk, m.s, m.e, m.dks) ||
        !op_strides(dv, m.hk, m.s, m.ev, m.dvs) || !cu_dense((const cu_strided *)lse) ||
        ((uintptr_t)delta & 15)) {
        say(why, n, "an output-side operand is not a 16-byte aligned view");
        return BORN_ERR_UNSUPPORTED;
    }
    if (!dnn_enter(why, n)) return BORN_ERR_UNSUPPORTED;
    int dev = cuda_device_of(dq->data);
    born_status st = BORN_ERR_UNSUPPORTED;
    plan *p = get_plan(dev, &m, why, n);
    if (p) {
        size_t acc = (size_t)(m.b * m.hq * m.l * m.e) * sizeof(float);
        void *dqacc = cuda_mem_alloc(dev, acc);
        if (!dqacc) {
            st = BORN_ERR_MEMORY; /* cuda_mem_alloc recorded the sizes */
        } else {
            cudaError_t ce = cudaSuccess;
            if (dnn.version < 90600) /* later releases clear it themselves */
                ce = cudaMemsetAsync(dqacc, 0, acc, cuda_stream(dev));
            if (ce != cudaSuccess) {
                (void)cudaGetLastError();
                say(why, n, "cudaMemsetAsync: %s", cudaGetErrorString(ce));
            } else {
                float scale = (float)a->scale, one = 1.f, neginf = -INFINITY;
                int32_t shift = (int32_t)a->kv_offset;
                if (dnn.version < 91000) neginf = -3.402823466e38f;
                int64_t uids[15] = {U_Q,  U_K,  U_V,   U_O,     U_DO,     U_STATS, U_SUM,    U_DQ,
                                    U_DK, U_DV, U_DQACC, U_SCALE, U_ONE, U_NEGINF, U_SHIFT};
                void *ptrs[15] = {q->data,  k->data,  v->data, out->data, grad_out->data,
                                  lse->data, delta,    dq->data, dk->data, dv->data,
                                  dqacc,     &scale,   &one,     &neginf,  &shift};
                int nu = m.causal ? (m.shift ? 15 : 14) : 13;
                st = run_plan(dev, p, nu, uids, ptrs, why, n);
            }
            cuda_mem_free(dev, dqacc);
        }
    }
    pthread_mutex_unlock(&dnn_lock);
    return st;
}

#endif
