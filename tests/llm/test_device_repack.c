/* The repacking of block-quantized weights for the device decoder (src/llm/model/device_upload.c):
 * for every type it takes, a random matrix quantized by Born, repacked into its group-affine
 * format and expanded as the GPU kernels read it (int8 levels in row order or two 4-bit levels a
 * byte, low nibble first; element = a q + b of its group) equals the CPU's dequantization. Runs
 * everywhere (no GPU needed). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/model/model_internal.h"
#include "test.h"

TEST(llm_device_repack_matches_dequant) {
    const born_dtype dts[] = {BORN_Q8_0, BORN_Q4_0, BORN_Q4_1, BORN_Q5_0,
                              BORN_Q5_1, BORN_Q4_K, BORN_Q5_K, BORN_Q6_K};
    const int64_t rows = 3, cols = 512;
    born_generator *g = born_generator_new(77);
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++) {
        born_scope_begin();
        born_tensor *x = born_randn(g, BORN_F32, BORN_DIMS(rows, cols));
        born_tensor *qt = born_to_dtype(x, dts[i]);
        born_tensor *deq = born_contiguous(born_to_dtype(qt, BORN_F32));
        CHECK_MSG(qt && deq, "%s: %s", born_dtype_name(dts[i]), born_last_error());
        if (!qt || !deq) {
            born_scope_end();
            continue;
        }
        llm_weight w;
        memset(&w, 0, sizeof w);
        w.t = qt;
        w.data = born_data_ptr(qt);
        w.dtype = dts[i];
        w.rows = rows;
        w.cols = cols;
        w.row_bytes = born_dtype_nbytes(dts[i], cols);
        llm_dev_fmt fmt;
        void *q = NULL;
        float *s = NULL;
        CHECK_OK(llm_device_repack(&w, &fmt, &q, &s));
        const float *ref = born_data_ptr(deq);
        const int64_t G = fmt == LLM_DEV_I8G16 ? 16 : 32;
        double worst = 0;
        for (int64_t r = 0; r < rows && q && s; r++)
            for (int64_t k = 0; k < cols; k++) {
                int lv;
                if (fmt == LLM_DEV_U4G32) {
                    const uint8_t byte = ((const uint8_t *)q)[(r * cols + k) / 2];
                    lv = k % 2 ? byte >> 4 : byte & 15;
                } else {
                    lv = ((const int8_t *)q)[r * cols + k];
                }
                const float *ab = s + (r * (cols / G) + k / G) * 2;
                const double v = (double)ab[0] * lv + ab[1], e = fabs(v - ref[r * cols + k]);
                if (!(e <= worst)) worst = e;
            }
        CHECK_MSG(worst <= 1e-5, "%s: repacked values differ from the dequantization by %g",
                  born_dtype_name(dts[i]), worst);
        free(q);
        free(s);
        born_scope_end();
    }
    born_generator_free(g);
}
