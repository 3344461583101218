/* Internal: reading and writing one element of any dtype as double or int64, with Born's
 * conversion rules: float to integer truncates toward zero and saturates at the type's limits
 * (NaN becomes 0); integer to narrower integer wraps (two's complement); anything to bool is
 * "nonzero" (NaN is true). */
#ifndef BORN_CORE_SCALAR_H
#define BORN_CORE_SCALAR_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "born/core.h"

static inline double scalar_load_f64(const void *p, born_dtype dtype) {
    switch (dtype) {
    case BORN_F32: return *(const float *)p;
    case BORN_F64: return *(const double *)p;
    case BORN_F16: return born_f16_to_f32(*(const uint16_t *)p);
    case BORN_BF16: return born_bf16_to_f32(*(const uint16_t *)p);
    case BORN_I8: return *(const int8_t *)p;
    case BORN_I16: return *(const int16_t *)p;
    case BORN_I32: return *(const int32_t *)p;
    case BORN_I64: return (double)*(const int64_t *)p;
    case BORN_U8: return *(const uint8_t *)p;
    case BORN_BOOL: return *(const uint8_t *)p ? 1.0 : 0.0;
    default: return 0.0;
    }
}

/* Saturating float-to-integer conversion into [lo, hi]. */
static inline int64_t scalar_f64_to_i64(double v, double lo, double hi) {
    if (v != v) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return hi >= 9223372036854775807.0 ? INT64_MAX : (int64_t)hi;
    return (int64_t)v;
}

static inline int64_t scalar_load_i64(const void *p, born_dtype dtype) {
    switch (dtype) {
    case BORN_I8: return *(const int8_t *)p;
    case BORN_I16: return *(const int16_t *)p;
    case BORN_I32: return *(const int32_t *)p;
    case BORN_I64: return *(const int64_t *)p;
    case BORN_U8: return *(const uint8_t *)p;
    case BORN_BOOL: return *(const uint8_t *)p ? 1 : 0;
    default:
        return scalar_f64_to_i64(scalar_load_f64(p, dtype), -9223372036854775808.0,
                                 9223372036854775807.0);
    }
}

/* Stores an exact integer value (integer and bool dtypes wrap / test nonzero; floats round). */
static inline void scalar_store_i64(void *p, born_dtype dtype, int64_t v) {
    switch (dtype) {
    case BORN_F32: *(float *)p = (float)v; break;
    case BORN_F64: *(double *)p = (double)v; break;
    case BORN_F16: *(uint16_t *)p = born_f32_to_f16((float)v); break;
    case BORN_BF16: *(uint16_t *)p = born_f32_to_bf16((float)v); break;
    case BORN_I8: *(int8_t *)p = (int8_t)(uint8_t)(uint64_t)v; break;
    case BORN_I16: *(int16_t *)p = (int16_t)(uint16_t)(uint64_t)v; break;
    case BORN_I32: *(int32_t *)p = (int32_t)(uint32_t)(uint64_t)v; break;
    case BORN_I64: *(int64_t *)p = v; break;
    case BORN_U8: *(uint8_t *)p = (uint8_t)(uint64_t)v; break;
    case BORN_BOOL: *(uint8_t *)p = v != 0; break;
    default: break;
    }
}

static inline void scalar_store_f64(void *p, born_dtype dtype, double v) {
    switch (dtype) {
    case BORN_F32: *(float *)p = (float)v; break;
    case BORN_F64: *(double *)p = v; break;
    case BORN_F16: *(uint16_t *)p = born_f32_to_f16((float)v); break;
    case BORN_BF16: *(uint16_t *)p = born_f32_to_bf16((float)v); break;
    case BORN_I8: *(int8_t *)p = (int8_t)scalar_f64_to_i64(v, -128.0, 127.0); break;
    case BORN_I16: *(int16_t *)p = (int16_t)scalar_f64_to_i64(v, -32768.0, 32767.0); break;
    case BORN_I32:
        *(int32_t *)p = (int32_t)scalar_f64_to_i64(v, -2147483648.0, 2147483647.0);
        break;
    case BORN_I64:
        *(int64_t *)p = scalar_f64_to_i64(v, -9223372036854775808.0, 9223372036854775807.0);
        break;
    case BORN_U8: *(uint8_t *)p = (uint8_t)scalar_f64_to_i64(v, 0.0, 255.0); break;
    case BORN_BOOL: *(uint8_t *)p = v != 0.0; break; /* NaN != 0 is true */
    default: break;
    }
}

#endif
