/* CPU batch normalisation in training, f32 (backend.h's batch_norm and batch_norm_backward).
 * x is [N, C, S]: channel c's values are N runs of S contiguous floats. Each channel is one task
 * (its values, a few hundred KB at CNN shapes, stay in L2 between the passes): the forward sums
 * them, then their squared deviations from the mean, then writes x * scale + shift with
 * scale = weight * rstd and shift = bias - mean * scale (torch's CPU formula); the backward sums
 * grad_out and grad_out * (x - mean), then writes the input gradient. Sums run over chunks of
 * CHUNK floats in 16 float lanes (vectorized at -O3), each chunk's total added in double, in an
 * order fixed by the shape, so results do not depend on the thread count. */
#include <math.h>

#include "backend/cpu/cpu_kernels.h"

enum { LANES = 16, CHUNK = 256 };

/* The LANES partial sums of a chunk, added in double. */
static double lanes_total(const float *part) {
    double t = 0;
    for (int k = 0; k < LANES; k++)
        t += part[k];
    return t;
}

/* sum x[i] over one run, by chunks. */
static double run_sum(const float *x, int64_t n) {
    double total = 0;
    for (int64_t c0 = 0; c0 < n; c0 += CHUNK) {
        int64_t end = c0 + CHUNK < n ? c0 + CHUNK : n, i = c0;
        float part[LANES] = {0};
        for (; i + LANES <= end; i += LANES)
            for (int k = 0; k < LANES; k++)
                part[k] += x[i + k];
        for (; i < end; i++)
            part[0] += x[i];
        total += lanes_total(part);
    }
    return total;
}

/* sum (x[i] - m)^2 over one run, by chunks. */
static double run_sq_dev(const float *x, int64_t n, float m) {
    double total = 0;
    for (int64_t c0 = 0; c0 < n; c0 += CHUNK) {
        int64_t end = c0 + CHUNK < n ? c0 + CHUNK : n, i = c0;
        float part[LANES] = {0};
        for (; i + LANES <= end; i += LANES)
            for (int k = 0; k < LANES; k++) {
                float d = x[i + k] - m;
                part[k] += d * d;
            }
        for (; i < end; i++) {
            float d = x[i] - m;
            part[0] += d * d;
        }
        total += lanes_total(part);
    }
    return total;
}

/* sum g[i] and sum g[i] * (x[i] - m) over one run, by chunks. */
static void run_grad_sums(const float *g, const float *x, int64_t n, float m, double *sg,
                          double *sgx) {
    for (int64_t c0 = 0; c0 < n; c0 += CHUNK) {
        int64_t end = c0 + CHUNK < n ? c0 + CHUNK : n, i = c0;
        float pg[LANES] = {0}, pgx[LANES] = {0};
        for (; i + LANES <= end; i += LANES)
            for (int k = 0; k < LANES; k++) {
                pg[k] += g[i + k];
                pgx[k] += g[i + k] * (x[i + k] - m);
            }
        for (; i < end; i++) {
            pg[0] += g[i];
            pgx[0] += g[i] * (x[i] - m);
        }
        *sg += lanes_total(pg);
        *sgx += lanes_total(pgx);
    }
}

typedef struct bn_job {
    int64_t n, c, s;
    double eps;
    const float *x, *weight, *bias, *grad_out;
    float *out, *mean, *var, *grad_x, *grad_weight, *grad_bias;
    const float *saved_mean, *saved_var;
} bn_job;

static void channels_forward(int64_t c0, int64_t c1, void *arg) {
    const bn_job *j = arg;
    const int64_t S = j->s, stride = j->c * S;
    const double count = (double)(j->n * S);
    for (int64_t c = c0; c < c1; c++) {
        const float *x = j->x + c * S;
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < j->n; i++)
            sum += run_sum(x + i * stride, S);
        float mean = (float)(sum / count);
        for (int64_t i = 0; i < j->n; i++)
            sq += run_sq_dev(x + i * stride, S, mean);
        double var = sq / count, rstd = 1.0 / sqrt(var + j->eps);
        double w = j->weight ? j->weight[c] : 1.0, b = j->bias ? j->bias[c] : 0.0;
        float scale = (float)(w * rstd), shift = (float)(b - (double)mean * w * rstd);
        j->mean[c] = mean;
        j->var[c] = (float)var;
        for (int64_t i = 0; i < j->n; i++) {
            const float *xr = x + i * stride;
            float *yr = j->out + c * S + i * stride;
            for (int64_t k = 0; k < S; k++) {
                float t = xr[k] * scale; /* its own statement: no FMA contraction */
                yr[k] = t + shift;
            }
        }
    }
}

static void channels_backward(int64_t c0, int64_t c1, void *arg) {
    const bn_job *j = arg;
    const int64_t S = j->s, stride = j->c * S;
    const double count = (double)(j->n * S);
    for (int64_t c = c0; c < c1; c++) {
        const float *x = j->x + c * S, *g = j->grad_out + c * S;
        float mean = j->saved_mean[c];
        double rstd = 1.0 / sqrt((double)j->saved_var[c] + j->eps), sg = 0, sgx = 0;
        for (int64_t i = 0; i < j->n; i++)
            run_grad_sums(g + i * stride, x + i * stride, S, mean, &sg, &sgx);
        if (j->grad_bias) j->grad_bias[c] = (float)sg;
        if (j->grad_weight) j->grad_weight[c] = (float)(sgx * rstd);
        if (!j->grad_x) continue;
        /* dx = w rstd (g - sum g / count - (x - mean) rstd^2 sum g (x - mean) / count) */
        double w = j->weight ? j->weight[c] : 1.0;
        float k1 = (float)(w * rstd), k2 = (float)(sg / count);
        float k3 = (float)(rstd * rstd * sgx / count);
        for (int64_t i = 0; i < j->n; i++) {
            const float *xr = x + i * stride, *gr = g + i * stride;
            float *dr = j->grad_x + c * S + i * stride;
            for (int64_t k = 0; k < S; k++) {
                float t = (xr[k] - mean) * k3;
                float u = gr[k] - k2 - t;
                dr[k] = k1 * u;
            }
        }
    }
}

/* Channels a task: at least this many floats of work each, so small inputs stay on one thread. */
enum { BN_GRAIN_FLOATS = 1 << 15 };

static int64_t channel_grain(int64_t n, int64_t s) {
    int64_t per = n * s;
    return per >= BN_GRAIN_FLOATS ? 1 : BN_GRAIN_FLOATS / (per + 1) + 1;
}

static const float *data_or_null(const born_strided *t) {
    return t && t->data ? (const float *)t->data : NULL;
}

/* The job's shape, eps, x and weight from the call, or an error naming what when x is not
 * f32 [N, C, S]. */
static born_status job_of(bn_job *j, const born_strided *x, const born_strided *weight, double eps,
                          const char *what) {
    if (x->dtype != BORN_F32 || x->ndim != 3)
        return born_error(BORN_ERR_DTYPE, "%s: the CPU kernel takes f32 [N, C, S], not %s %d-d",
                          what, born_dtype_name(x->dtype), x->ndim);
    *j = (bn_job){.n = x->shape[0],
                  .c = x->shape[1],
                  .s = x->shape[2],
                  .eps = eps,
                  .x = x->data,
                  .weight = data_or_null(weight)};
    return BORN_OK;
}

static float *out_or_null(const born_strided *t) { return t && t->data ? t->data : NULL; }

born_status cpu_batch_norm(const born_strided *out, const born_strided *mean,
                           const born_strided *var, const born_strided *x,
                           const born_strided *weight, const born_strided *bias, double eps) {
    bn_job j;
    born_status st = job_of(&j, x, weight, eps, "batch_norm");
    if (st != BORN_OK) return st;
    j.bias = data_or_null(bias);
    j.out = out->data;
    j.mean = mean->data;
    j.var = var->data;
    born_parallel_for(j.c, channel_grain(j.n, j.s), channels_forward, &j);
    return BORN_OK;
}

born_status cpu_batch_norm_backward(const born_strided *grad_x, const born_strided *grad_weight,
                                    const born_strided *grad_bias, const born_strided *grad_out,
                                    const born_strided *x, const born_strided *mean,
                                    const born_strided *var, const born_strided *weight,
                                    double eps) {
    bn_job j;
    born_status st = job_of(&j, x, weight, eps, "batch_norm backward");
    if (st != BORN_OK) return st;
    j.grad_out = grad_out->data;
    j.grad_x = out_or_null(grad_x);
    j.grad_weight = out_or_null(grad_weight);
    j.grad_bias = out_or_null(grad_bias);
    j.saved_mean = mean->data;
    j.saved_var = var->data;
    born_parallel_for(j.c, channel_grain(j.n, j.s), channels_backward, &j);
    return BORN_OK;
}
