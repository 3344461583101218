/* Internal: moving a convolution's planes between layouts (conv.c, conv_depthwise.c): rows copied
 * between row strides (padding a plane, cropping one), and an output plane's rows spread to a
 * wider row with zeros in the gaps (the gapped and phase-plane input gradients). */
#ifndef BORN_CPU_CONV_PLANES_H
#define BORN_CPU_CONV_PLANES_H

#include <stdint.h>
#include <string.h>

/* rows rows of cols floats from src (src_rs floats a row) to dst (dst_rs floats a row). */
static inline void conv_rows_copy(float *dst, int64_t dst_rs, const float *src, int64_t src_rs,
                                  int64_t rows, int64_t cols) {
    for (int64_t y = 0; y < rows; y++)
        memcpy(dst + y * dst_rs, src + y * src_rs, (size_t)cols * sizeof(float));
}

/* The oh x ow plane's rows at width w (>= ow): wide [(oh - 1) w + ow], zeros in the gaps. */
static inline void conv_spread_rows(float *wide, const float *plane, int64_t oh, int64_t ow,
                                    int64_t w) {
    for (int64_t oy = 0; oy < oh; oy++) {
        memcpy(wide + oy * w, plane + oy * ow, (size_t)ow * sizeof(float));
        if (oy + 1 < oh) memset(wide + oy * w + ow, 0, (size_t)(w - ow) * sizeof(float));
    }
}

#endif
