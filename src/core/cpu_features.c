/* CPU feature detection with CPUID/XGETBV on x86-64; on arm64 Advanced SIMD (NEON) is part of the
 * architecture and the dot-product extension is read from AT_HWCAP (Linux); other targets use the
 * portable kernels. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

static unsigned long long read_xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

/* Asks Linux for the AMX tile data state (XFEATURE_XTILEDATA, 18) for this process; without the
 * grant the first tile instruction faults. Other systems: no AMX. */
static bool amx_permitted(void) {
#if defined(__linux__) && defined(__x86_64__)
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18) == 0;
#else
    return false;
#endif
}

static void detect(cpu_features *f) {
    unsigned int a, b, c, d;
    if (__get_cpuid(0, &a, &b, &c, &d)) /* "AuthenticAMD" in ebx, edx, ecx */
        f->amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    f->fma = (c >> 12) & 1;
    f->f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return;
    unsigned long long xcr0 = read_xcr0();
    bool ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6;
    if (!ymm) return;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    f->avx2 = (b >> 5) & 1;
    if (zmm) {
        f->avx512f = (b >> 16) & 1;
        f->avx512dq = (b >> 17) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
        f->avx512_vnni = (c >> 11) & 1;
    }
    bool amx_tile = (d >> 24) & 1, amx_bf16 = (d >> 22) & 1, amx_int8 = (d >> 25) & 1;
    if (amx_tile && (xcr0 & 0x60000) == 0x60000 && amx_permitted()) {
        f->amx_bf16 = amx_bf16;
        f->amx_int8 = amx_int8;
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
        f->avx_vnni = (a >> 4) & 1;
        f->avx512_bf16 = zmm && ((a >> 5) & 1);
    }
}
#elif defined(__aarch64__)
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

static void detect(cpu_features *f) {
    f->neon = true;
#if defined(__linux__)
    f->neon_dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
    const char *env = getenv("BORN_NEON_DOTPROD");
    if (env && strcmp(env, "0") == 0) f->neon_dotprod = false;
}
#else
static void detect(cpu_features *f) { (void)f; }
#endif

static cpu_features features;
static atomic_int detected;  /* 0 no, 1 yes */
static atomic_int level = -1; /* -1: not chosen yet */

const cpu_features *cpu_features_get(void) {
    if (!atomic_load(&detected)) {
        cpu_features f;
        memset(&f, 0, sizeof f);
        detect(&f);
        const char *amx = getenv("BORN_AMX");
        if (amx && strcmp(amx, "0") == 0) f.amx_bf16 = f.amx_int8 = false;
        features = f;
        atomic_store(&detected, 1);
    }
    return &features;
}

static cpu_level hardware_level(void) {
    const cpu_features *f = cpu_features_get();
    if (f->neon) return CPU_LEVEL_NEON;
    if (f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl && f->fma && f->f16c)
        return CPU_LEVEL_AVX512;
    if (f->avx2 && f->fma && f->f16c) return CPU_LEVEL_AVX2;
    return CPU_LEVEL_SCALAR;
}

void cpu_set_level(cpu_level want) {
    cpu_level hw = hardware_level();
    cpu_level l;
    if (hw == CPU_LEVEL_NEON) /* arm64: any SIMD level asked for is NEON */
        l = want == CPU_LEVEL_SCALAR ? CPU_LEVEL_SCALAR : CPU_LEVEL_NEON;
    else if (want == CPU_LEVEL_NEON) /* not an x86 level */
        l = CPU_LEVEL_SCALAR;
    else
        l = want < hw ? want : hw;
    atomic_store(&level, (int)l);
}

cpu_level cpu_get_level(void) {
    int l = atomic_load(&level);
    if (l >= 0) return (cpu_level)l;
    cpu_level want = CPU_LEVEL_AVX512;
    const char *env = getenv("BORN_CPU");
    if (env && strcmp(env, "scalar") == 0) want = CPU_LEVEL_SCALAR;
    if (env && strcmp(env, "avx2") == 0) want = CPU_LEVEL_AVX2;
    if (env && strcmp(env, "neon") == 0) want = CPU_LEVEL_NEON;
    cpu_set_level(want);
    return (cpu_level)atomic_load(&level);
}

static atomic_int amx_off; /* cpu_set_amx(false) */

bool cpu_amx_enabled(void) {
    return cpu_features_get()->amx_bf16 && cpu_get_level() == CPU_LEVEL_AVX512 &&
           !atomic_load(&amx_off);
}

void cpu_set_amx(bool on) { atomic_store(&amx_off, on ? 0 : 1); }

const char *cpu_level_name(cpu_level l) {
    switch (l) {
    case CPU_LEVEL_AVX512: return "avx512";
    case CPU_LEVEL_AVX2: return "avx2";
    case CPU_LEVEL_NEON: return "neon";
    default: return "scalar";
    }
}
