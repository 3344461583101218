/* CPU select: out = cond ? a : b, for every element size. */
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/iter.h"

#define WHERE_LOOP(NAME, T)                                                                      \
    static void NAME(char **d, const int64_t *s, int64_t n, void *ctx) {                         \
        (void)ctx;                                                                                \
        for (int64_t i = 0; i < n; i++) {                                                         \
            bool c = *(const uint8_t *)(d[1] + i * s[1]) != 0;                                    \
            *(T *)(d[0] + i * s[0]) = c ? *(const T *)(d[2] + i * s[2])                           \
                                        : *(const T *)(d[3] + i * s[3]);                          \
        }                                                                                         \
    }

WHERE_LOOP(where_1, uint8_t)
WHERE_LOOP(where_2, uint16_t)
WHERE_LOOP(where_4, uint32_t)
WHERE_LOOP(where_8, uint64_t)

born_status cpu_where(const born_strided *out, const born_strided *cond, const born_strided *a,
                      const born_strided *b) {
    const born_strided *ops[4] = {out, cond, a, b};
    switch (born_dtype_size(out->dtype)) {
    case 1: cpu_iter_run(4, ops, where_1, NULL, 0); break;
    case 2: cpu_iter_run(4, ops, where_2, NULL, 0); break;
    case 4: cpu_iter_run(4, ops, where_4, NULL, 0); break;
    default: cpu_iter_run(4, ops, where_8, NULL, 0); break;
    }
    return BORN_OK;
}
