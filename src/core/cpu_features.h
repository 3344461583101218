/* Internal: which SIMD instruction sets this CPU (and OS) supports, and which one kernels use.
 * BORN_CPU=avx512|avx2|neon|scalar lowers the level (never raises it above what the CPU has), so
 * the tests can run every code path on one machine. */
#ifndef BORN_CORE_CPU_FEATURES_H
#define BORN_CORE_CPU_FEATURES_H

#include <stdbool.h>

/* Levels rank the kernels of one architecture: SCALAR < AVX2 < AVX512 on x86-64, SCALAR < NEON on
 * arm64. NEON ranks under AVX2 so that a test `cpu_get_level() >= CPU_LEVEL_AVX2`, which guards
 * x86 kernels, is false on arm64; the x86 levels never occur there, nor NEON on x86-64. */
typedef enum cpu_level {
    CPU_LEVEL_SCALAR = 0, /* portable C (SSE2 on x86-64; on arm64 what the compiler vectorizes) */
    CPU_LEVEL_NEON = 1,   /* arm64 Advanced SIMD (part of every AArch64 CPU) */
    CPU_LEVEL_AVX2 = 2,   /* AVX2 + FMA + F16C */
    CPU_LEVEL_AVX512 = 3  /* AVX-512 F/BW/DQ/VL */
} cpu_level;

typedef struct cpu_features {
    bool neon;
    /* arm64 dot-product extension (SDOT/UDOT, FEAT_DotProd), from AT_HWCAP on Linux; the
     * environment variable BORN_NEON_DOTPROD=0 clears it, so the baseline NEON kernels can be run
     * on a CPU that has it. No level of its own: kernels test it at CPU_LEVEL_NEON. */
    bool neon_dotprod;
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512dq, avx512vl, avx512_vnni, avx512_bf16, avx_vnni;
    /* The CPUID vendor is AuthenticAMD. Some kernels pick by it where the two vendors' cores
     * differ in kind: AVX512_BF16's dot product runs at twice the f32 FMA's rate on Zen 5 and at
     * about half of it on the Intel Xeon measured (gemm_bf16.c). */
    bool amd;
    /* Intel AMX tiles with bf16 and int8 dot products (Sapphire Rapids on): the CPU has them, the
     * OS saves the tile state (XCR0 bits 17 and 18) and, on Linux, granted this process the tile
     * data when asked (arch_prctl ARCH_REQ_XCOMP_PERM). BORN_AMX=0 clears them. No level of their
     * own: kernels take them at CPU_LEVEL_AVX512 while cpu_amx_enabled(). */
    bool amx_bf16, amx_int8;
} cpu_features;

/* What the hardware supports (detected once). */
const cpu_features *cpu_features_get(void);

/* The level kernels should use: the best supported, lowered by BORN_CPU or cpu_set_level. */
cpu_level cpu_get_level(void);

/* Overrides the level (clamped to what the CPU supports); used by tests to cover every path. */
void cpu_set_level(cpu_level level);

/* Whether kernels may use the AMX tiles: the CPU has AMX-BF16 (cpu_features), the level is
 * AVX512 and cpu_set_amx has not turned them off. Tests turn them off to run the AVX-512 paths. */
bool cpu_amx_enabled(void);

/* Turns the AMX kernels on (where the CPU has them) or off. */
void cpu_set_amx(bool on);

/* "scalar", "neon", "avx2" or "avx512". */
const char *cpu_level_name(cpu_level level);

#endif
