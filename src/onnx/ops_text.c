/* Text operators: TfIdfVectorizer over integer tokens (TF, IDF and TFIDF modes; n-grams of
 * min_gram_length..max_gram_length tokens taken every 1..max_skip_count + 1 tokens, unigrams
 * counted once), as the ONNX spec and its reference implementation count them; weights belong to
 * the pool's n-grams, as the spec says and onnxruntime applies them (onnx's reference evaluator
 * indexes them by output column instead). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

typedef struct tfidf_gram {
    int n;               /* tokens */
    const int64_t *toks; /* into pool_int64s */
    int64_t out;         /* output column */
} tfidf_gram;

/* The column of the n-gram x[0], x[step], ... (n tokens), or -1 when the pool lacks it. */
static int64_t gram_find(const tfidf_gram *g, int ng, const int64_t *x, int64_t step, int n) {
    for (int j = 0; j < ng; j++) {
        if (g[j].n != n) continue;
        int k = 0;
        while (k < n && g[j].toks[k] == x[k * step])
            k++;
        if (k == n) return g[j].out;
    }
    return -1;
}

static born_status op_TfIdfVectorizer(onnx_op_ctx *c) {
    ONNX_TRY(onnx_need(c, 0));
    born_tensor *xt = c->in[0];
    if (!born_dtype_is_integer(born_tensor_dtype(xt)))
        return onnx_fail(c, BORN_ERR_DTYPE, "X is %s; int32 or int64 tokens are required",
                         born_dtype_name(born_tensor_dtype(xt)));
    int r = born_tensor_ndim(xt);
    if (r != 1 && r != 2) return onnx_fail(c, BORN_ERR_SHAPE, "X must be [C] or [N, C]");
    int64_t rows = r == 2 ? born_tensor_shape(xt)[0] : 1, cols = born_tensor_shape(xt)[r - 1];
    int64_t minn = onnx_attr_int(c, "min_gram_length", 0);
    int64_t maxn = onnx_attr_int(c, "max_gram_length", 0);
    int64_t skips = onnx_attr_int(c, "max_skip_count", 0);
    if (minn < 1 || maxn < minn || maxn > 64 || skips < 0 || skips > (1 << 20))
        return onnx_fail(c, BORN_ERR_ARGUMENT,
                         "bad n-gram lengths %lld..%lld or max_skip_count %lld", (long long)minn,
                         (long long)maxn, (long long)skips);
    char buf[16];
    const char *mode = onnx_attr_str(c, "mode", "", buf, sizeof buf);
    int md = !strcmp(mode, "TF") ? 0 : !strcmp(mode, "IDF") ? 1 : !strcmp(mode, "TFIDF") ? 2 : -1;
    if (md < 0)
        return onnx_fail(c, BORN_ERR_ARGUMENT, "mode '%s' (expected TF, IDF or TFIDF)", mode);
    if (onnx_has_attr(c, "pool_strings"))
        return onnx_fail(c, BORN_ERR_UNSUPPORTED, "pool_strings: Born holds no string tensors");
    int npool, ncounts, nidx, nw;
    const int64_t *pool = onnx_attr_ints(c, "pool_int64s", &npool);
    const int64_t *counts = onnx_attr_ints(c, "ngram_counts", &ncounts);
    const int64_t *idx = onnx_attr_ints(c, "ngram_indexes", &nidx);
    const float *w = onnx_attr_floats(c, "weights", &nw);
    if (!pool || !counts || !idx)
        return onnx_fail(c, BORN_ERR_ARGUMENT,
                         "pool_int64s, ngram_counts and ngram_indexes are required");
    /* The grams, size by size: ngram_counts[i] is where the (i+1)-grams start in the pool. */
    tfidf_gram *g = calloc((size_t)npool + 1, sizeof *g);
    if (!g) return onnx_fail(c, BORN_ERR_MEMORY, "out of memory");
    int ng = 0;
    int64_t width = 0;
    born_status st = BORN_OK;
    for (int i = 0; i < ncounts && !st; i++) {
        int64_t b = counts[i], e = i + 1 < ncounts ? counts[i + 1] : npool;
        if (b < 0 || e < b || e > npool || (e - b) % (i + 1)) {
            st = onnx_fail(c, BORN_ERR_ARGUMENT,
                           "ngram_counts[%d] = %lld does not split the pool "
                           "of %d into %d-grams",
                           i, (long long)b, npool, i + 1);
            break;
        }
        for (int64_t p = b; p < e; p += i + 1, ng++) {
            if (ng >= nidx || idx[ng] < 0 || idx[ng] > ((int64_t)1 << 30)) {
                st = onnx_fail(c, BORN_ERR_ARGUMENT,
                               "ngram_indexes lacks a valid entry for n-gram %d", ng);
                break;
            }
            g[ng] = (tfidf_gram){.n = i + 1, .toks = pool + p, .out = idx[ng]};
            if (idx[ng] + 1 > width) width = idx[ng] + 1;
        }
    }
    if (!st && nw && nw < ng)
        st = onnx_fail(c, BORN_ERR_ARGUMENT, "%d weights for %d n-grams", nw, ng);
    born_tensor *x = st ? NULL : onnx_as(xt, BORN_I64);
    int64_t shape[2] = {rows, width};
    born_tensor *y = x ? born_zeros(BORN_F32, r, r == 2 ? shape : shape + 1) : NULL;
    /* weights[i] is the weight of the pool's i-th n-gram (the spec; onnxruntime), so of its column
     */
    float *colw = y ? malloc((size_t)(width ? width : 1) * sizeof *colw) : NULL;
    if (!st && !y)
        st = onnx_op_failed(c);
    else if (!st && !colw)
        st = onnx_fail(c, BORN_ERR_MEMORY, "out of memory");
    if (st) {
        free(g);
        free(colw);
        return st;
    }
    for (int64_t j = 0; j < width; j++)
        colw[j] = 1;
    for (int j = 0; nw && j < ng; j++)
        colw[g[j].out] = w[j];
    float *out = born_data_f32(y);
    const int64_t *xv = born_data_ptr(x);
    for (int64_t row = 0; row < rows; row++) {
        const int64_t *xr = xv + row * cols;
        float *yr = out + row * width;
        int64_t first = minn;
        for (int64_t d = 1; d <= skips + 1; d++) {
            for (int64_t s = 0; s < cols; s++)
                for (int64_t n = first; n <= maxn && s + (n - 1) * d < cols; n++) {
                    int64_t col = gram_find(g, ng, xr + s, d, (int)n);
                    if (col >= 0) yr[col] += 1;
                }
            if (first == 1 && ++first > maxn) break; /* unigrams do not depend on the skip */
        }
        for (int64_t j = 0; j < width; j++) {
            double wj = colw[j];
            if (md == 1)
                yr[j] = yr[j] > 0 ? (float)wj : 0;
            else if (md == 2)
                yr[j] = (float)(yr[j] * wj);
        }
    }
    free(g);
    free(colw);
    c->out[0] = y;
    return BORN_OK;
}

const onnx_op_entry onnx_ops_text[] = {{"TfIdfVectorizer", op_TfIdfVectorizer}, {NULL, NULL}};
