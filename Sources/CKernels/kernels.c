// SiLU over large float buffers for the TeleLoRA generator, which evaluates it on every element of N×H×c tensors
// (hundreds of millions of values for a 100M-parameter model). Swift's portable build targets baseline x86-64
// (4-wide SSE, no FMA); here an 8-wide AVX2+FMA path is compiled alongside and picked at run time.
//
// e^x follows Cephes expf (range reduction by ln 2 in two parts, degree-6 polynomial, 2^n through the exponent
// bits), the same constants as Guard/VectorMath.swift, so both paths agree to float rounding (FMA contracts).
#include "CKernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TG_X86 1
#endif

static const float kExpHi = 87.3f, kExpLo = -87.3f;
static const float kLog2e = 1.44269504f, kShifter = 12582912.0f;  // 1.5·2²³: round to nearest by add/subtract
static const float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
static const float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f, kP3 = 4.1665795894e-2f,
                   kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

static inline float scalar_exp(float x) {
    float clamped = fminf(fmaxf(x, kExpLo), kExpHi);
    float biased = clamped * kLog2e + kShifter;
    float n = biased - kShifter;
    float r = clamped - n * kLn2Hi;
    r = r - n * kLn2Lo;
    float p = kP0;
    p = p * r + kP1;
    p = p * r + kP2;
    p = p * r + kP3;
    p = p * r + kP4;
    p = p * r + kP5;
    float y = p * r * r + r + 1.0f;
    uint32_t biasedBits, shifterBits;
    memcpy(&biasedBits, &biased, 4);
    memcpy(&shifterBits, &kShifter, 4);
    uint32_t scaleBits = (biasedBits - shifterBits + 127u) << 23;
    float scale;
    memcpy(&scale, &scaleBits, 4);
    return y * scale;
}

static inline float scalar_silu(float v) { return v / (1.0f + scalar_exp(-v)); }

static void silu_scalar(float *z, size_t count) {
    for (size_t i = 0; i < count; i++) z[i] = scalar_silu(z[i]);
}

static void silu_accumulate_scalar(float *z, size_t count, float *sum, float *maximum) {
    for (size_t i = 0; i < count; i++) {
        float s = scalar_silu(z[i]);
        z[i] = s;
        sum[i] += s;
        maximum[i] = maximum[i] > s ? maximum[i] : s;
    }
}

#ifdef TG_X86
__attribute__((target("avx2,fma"))) static inline __m256 avx2_silu(__m256 v) {
    const __m256 x = _mm256_min_ps(_mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), v), _mm256_set1_ps(kExpLo)),
                                   _mm256_set1_ps(kExpHi));
    const __m256 shifter = _mm256_set1_ps(kShifter);
    const __m256 biased = _mm256_fmadd_ps(x, _mm256_set1_ps(kLog2e), shifter);
    const __m256 n = _mm256_sub_ps(biased, shifter);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
    __m256 p = _mm256_set1_ps(kP0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
    const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(biased), _mm256_castps_si256(shifter)), _mm256_set1_epi32(127)), 23);
    const __m256 e = _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

__attribute__((target("avx2,fma"))) static void silu_avx2(float *z, size_t count) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(z + i, avx2_silu(_mm256_loadu_ps(z + i)));
    for (; i < count; i++) z[i] = scalar_silu(z[i]);
}

__attribute__((target("avx2,fma"))) static void silu_accumulate_avx2(float *z, size_t count, float *sum, float *maximum) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) {
        const __m256 s = avx2_silu(_mm256_loadu_ps(z + i));
        _mm256_storeu_ps(z + i, s);
        _mm256_storeu_ps(sum + i, _mm256_add_ps(_mm256_loadu_ps(sum + i), s));
        _mm256_storeu_ps(maximum + i, _mm256_max_ps(_mm256_loadu_ps(maximum + i), s));
    }
    silu_accumulate_scalar(z + i, count - i, sum + i, maximum + i);
}
#endif

static int vector_path(void) {
#ifdef TG_X86
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
    }
    return cached;
#else
    return 0;
#endif
}

int tg_kernels_vectorized(void) { return vector_path(); }

int tg_cpu_has_avx2_fma(void) {
#ifdef TG_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int tg_cpu_has_avx512_skylakex(void) {
#ifdef TG_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

void tg_silu_inplace(float *z, size_t count) {
#ifdef TG_X86
    if (vector_path()) { silu_avx2(z, count); return; }
#endif
    silu_scalar(z, count);
}

void tg_silu_accumulate(float *z, size_t count, float *sum, float *maximum) {
#ifdef TG_X86
    if (vector_path()) { silu_accumulate_avx2(z, count, sum, maximum); return; }
#endif
    silu_accumulate_scalar(z, count, sum, maximum);
}
