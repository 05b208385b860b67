#ifndef TELEGUARD_CKERNELS_H
#define TELEGUARD_CKERNELS_H

#include <stddef.h>

/// `z[i] ← z[i] / (1 + e^(−z[i]))` for i < count. AVX2+FMA when the CPU has it (chosen once, at first call),
/// otherwise the same arithmetic one element at a time.
void tg_silu_inplace(float *z, size_t count);

/// SiLU in place as above, then `sum[i] += z[i]` and `maximum[i] = max(maximum[i], z[i])`: the generator's last
/// exchangeable layer pools each finished row into running means and maxima in the same pass over it.
void tg_silu_accumulate(float *z, size_t count, float *sum, float *maximum);

/// 1 when the vector path (AVX2+FMA) is in use, else 0 (reported by benchmarks and tests).
int tg_kernels_vectorized(void);

/// CPU features (cpuid, with the OS's register-state support) that decide which OpenBLAS kernel set fits this CPU:
/// AVX2 and FMA; AVX-512 F, CD, BW, DQ and VL (OpenBLAS's SkylakeX kernels). 0 on other architectures.
int tg_cpu_has_avx2_fma(void);
int tg_cpu_has_avx512_skylakex(void);

#endif
