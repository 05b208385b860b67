// SiLU over large float buffers for the TeleLoRA generator, which evaluates it on every element of N×H×c tensors
// (hundreds of millions of values for a 100M-parameter model), and its two exchangeable layers fused per row.
// Swift's portable build targets baseline x86-64 (4-wide SSE, no FMA); here 16-wide AVX-512 and 8-wide AVX2+FMA
// paths are compiled alongside and picked at run time.
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

__attribute__((target("avx512f"))) static inline __m512 avx512_silu(__m512 v) {
    const __m512 x = _mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), v), _mm512_set1_ps(kExpLo)),
                                   _mm512_set1_ps(kExpHi));
    const __m512 shifter = _mm512_set1_ps(kShifter);
    const __m512 biased = _mm512_fmadd_ps(x, _mm512_set1_ps(kLog2e), shifter);
    const __m512 n = _mm512_sub_ps(biased, shifter);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
    __m512 p = _mm512_set1_ps(kP0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP5));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    const __m512i bits = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(biased), _mm512_castps_si512(shifter)), _mm512_set1_epi32(127)), 23);
    const __m512 e = _mm512_mul_ps(y, _mm512_castsi512_ps(bits));
    // v / d as v · (1/d): a 14-bit reciprocal estimate refined by one Newton step (r·(2 − d·r), ~2⁻²⁸ relative) costs
    // three cheap instructions where a 512-bit divide takes ten cycles of throughput.
    const __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), e);
    const __m512 estimate = _mm512_rcp14_ps(d);
    const __m512 refined = _mm512_mul_ps(estimate, _mm512_fnmadd_ps(d, estimate, _mm512_set1_ps(2.0f)));
    return _mm512_mul_ps(v, refined);
}

__attribute__((target("avx512f"))) static void silu_avx512(float *z, size_t count) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16) _mm512_storeu_ps(z + i, avx512_silu(_mm512_loadu_ps(z + i)));
    for (; i < count; i++) z[i] = scalar_silu(z[i]);
}

__attribute__((target("avx512f"))) static void silu_accumulate_avx512(float *z, size_t count, float *sum, float *maximum) {
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        const __m512 s = avx512_silu(_mm512_loadu_ps(z + i));
        _mm512_storeu_ps(z + i, s);
        _mm512_storeu_ps(sum + i, _mm512_add_ps(_mm512_loadu_ps(sum + i), s));
        _mm512_storeu_ps(maximum + i, _mm512_max_ps(_mm512_loadu_ps(maximum + i), s));
    }
    silu_accumulate_scalar(z + i, count - i, sum + i, maximum + i);
}

// c = 32: two 16-wide registers per neuron.
__attribute__((target("avx512f"))) static void first_row_avx512_c32(const float *x, size_t width, const float *t1,
                                                                   const float *term, const float *constant,
                                                                   float *column_sum, float *row_sum) {
    const __m512 t1a = _mm512_loadu_ps(t1), t1b = _mm512_loadu_ps(t1 + 16);
    const __m512 ca = _mm512_loadu_ps(constant), cb = _mm512_loadu_ps(constant + 16);
    __m512 ra = _mm512_setzero_ps(), rb = _mm512_setzero_ps();
    for (size_t h = 0; h < width; h++) {
        const __m512 v = _mm512_set1_ps(x[h]);
        const float *th = term + h * 32;
        float *sh = column_sum + h * 32;
        const __m512 za = avx512_silu(_mm512_fmadd_ps(v, t1a, _mm512_add_ps(_mm512_loadu_ps(th), ca)));
        const __m512 zb = avx512_silu(_mm512_fmadd_ps(v, t1b, _mm512_add_ps(_mm512_loadu_ps(th + 16), cb)));
        _mm512_storeu_ps(sh, _mm512_add_ps(_mm512_loadu_ps(sh), za));
        _mm512_storeu_ps(sh + 16, _mm512_add_ps(_mm512_loadu_ps(sh + 16), zb));
        ra = _mm512_add_ps(ra, za);
        rb = _mm512_add_ps(rb, zb);
    }
    _mm512_storeu_ps(row_sum, _mm512_add_ps(_mm512_loadu_ps(row_sum), ra));
    _mm512_storeu_ps(row_sum + 16, _mm512_add_ps(_mm512_loadu_ps(row_sum + 16), rb));
}

__attribute__((target("avx512f"))) static void pair_row_avx512_c32(const float *x, size_t width, const float *t1,
                                                                  const float *term, const float *constant,
                                                                  const float *t1_last, const float *term_last,
                                                                  const float *constant_last, float *sum, float *maximum) {
    const __m512 t1a = _mm512_loadu_ps(t1), t1b = _mm512_loadu_ps(t1 + 16);
    const __m512 ca = _mm512_loadu_ps(constant), cb = _mm512_loadu_ps(constant + 16);
    const __m512 la = _mm512_loadu_ps(constant_last), lb = _mm512_loadu_ps(constant_last + 16);
    float z0[32] __attribute__((aligned(64)));
    for (size_t h = 0; h < width; h++) {
        const __m512 v = _mm512_set1_ps(x[h]);
        const float *th = term + h * 32, *lh = term_last + h * 32;
        _mm512_store_ps(z0, avx512_silu(_mm512_fmadd_ps(v, t1a, _mm512_add_ps(_mm512_loadu_ps(th), ca))));
        _mm512_store_ps(z0 + 16, avx512_silu(_mm512_fmadd_ps(v, t1b, _mm512_add_ps(_mm512_loadu_ps(th + 16), cb))));
        __m512 a0 = _mm512_add_ps(_mm512_loadu_ps(lh), la), b0 = _mm512_add_ps(_mm512_loadu_ps(lh + 16), lb);
        __m512 a1 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();  // two chains per half: FMA latency
        for (size_t j = 0; j < 32; j += 2) {
            const __m512 z = _mm512_set1_ps(z0[j]), w = _mm512_set1_ps(z0[j + 1]);
            a0 = _mm512_fmadd_ps(z, _mm512_loadu_ps(t1_last + j * 32), a0);
            b0 = _mm512_fmadd_ps(z, _mm512_loadu_ps(t1_last + j * 32 + 16), b0);
            a1 = _mm512_fmadd_ps(w, _mm512_loadu_ps(t1_last + (j + 1) * 32), a1);
            b1 = _mm512_fmadd_ps(w, _mm512_loadu_ps(t1_last + (j + 1) * 32 + 16), b1);
        }
        const __m512 za = avx512_silu(_mm512_add_ps(a0, a1)), zb = avx512_silu(_mm512_add_ps(b0, b1));
        float *sh = sum + h * 32, *mh = maximum + h * 32;
        _mm512_storeu_ps(sh, _mm512_add_ps(_mm512_loadu_ps(sh), za));
        _mm512_storeu_ps(sh + 16, _mm512_add_ps(_mm512_loadu_ps(sh + 16), zb));
        _mm512_storeu_ps(mh, _mm512_max_ps(_mm512_loadu_ps(mh), za));
        _mm512_storeu_ps(mh + 16, _mm512_max_ps(_mm512_loadu_ps(mh + 16), zb));
    }
}
#endif

static void first_row_scalar(const float *x, size_t width, size_t c, const float *t1, const float *term,
                             const float *constant, float *column_sum, float *row_sum) {
    for (size_t h = 0; h < width; h++) {
        for (size_t k = 0; k < c; k++) {
            const float z = scalar_silu(x[h] * t1[k] + (term[h * c + k] + constant[k]));
            column_sum[h * c + k] += z;
            row_sum[k] += z;
        }
    }
}

static void pair_row_scalar(const float *x, size_t width, size_t c, const float *t1, const float *term,
                            const float *constant, const float *t1_last, const float *term_last,
                            const float *constant_last, float *sum, float *maximum) {
    float z0[c], z1[c];
    for (size_t h = 0; h < width; h++) {
        for (size_t k = 0; k < c; k++) z0[k] = scalar_silu(x[h] * t1[k] + (term[h * c + k] + constant[k]));
        for (size_t k = 0; k < c; k++) z1[k] = term_last[h * c + k] + constant_last[k];
        for (size_t j = 0; j < c; j++) {
            for (size_t k = 0; k < c; k++) z1[k] += z0[j] * t1_last[j * c + k];
        }
        for (size_t k = 0; k < c; k++) {
            const float z = scalar_silu(z1[k]);
            sum[h * c + k] += z;
            maximum[h * c + k] = maximum[h * c + k] > z ? maximum[h * c + k] : z;
        }
    }
}

// 0: scalar; 1: AVX2+FMA; 2: AVX-512F (which implies both); never above `path_limit` (tests lower it).
static int path_limit = 2;

static int vector_path(void) {
#ifdef TG_X86
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 2
               : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0);
    }
    return cached < path_limit ? cached : path_limit;
#else
    return 0;
#endif
}

void tg_kernels_limit(int level) { path_limit = level < 0 ? 0 : (level > 2 ? 2 : level); }

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
    if (vector_path() == 2) { silu_avx512(z, count); return; }
    if (vector_path() == 1) { silu_avx2(z, count); return; }
#endif
    silu_scalar(z, count);
}

void tg_silu_accumulate(float *z, size_t count, float *sum, float *maximum) {
#ifdef TG_X86
    if (vector_path() == 2) { silu_accumulate_avx512(z, count, sum, maximum); return; }
    if (vector_path() == 1) { silu_accumulate_avx2(z, count, sum, maximum); return; }
#endif
    silu_accumulate_scalar(z, count, sum, maximum);
}

void tg_exchangeable_first_row(const float *x, size_t width, size_t c, const float *t1_first, const float *term_first,
                               const float *constant_first, float *column_sum, float *row_sum) {
#ifdef TG_X86
    if (c == 32 && vector_path() == 2) {
        first_row_avx512_c32(x, width, t1_first, term_first, constant_first, column_sum, row_sum);
        return;
    }
#endif
    first_row_scalar(x, width, c, t1_first, term_first, constant_first, column_sum, row_sum);
}

void tg_exchangeable_pair_row(const float *x, size_t width, size_t c, const float *t1_first, const float *term_first,
                              const float *constant_first, const float *t1_last, const float *term_last,
                              const float *constant_last, float *sum, float *maximum) {
#ifdef TG_X86
    if (c == 32 && vector_path() == 2) {
        pair_row_avx512_c32(x, width, t1_first, term_first, constant_first, t1_last, term_last, constant_last, sum, maximum);
        return;
    }
#endif
    pair_row_scalar(x, width, c, t1_first, term_first, constant_first, t1_last, term_last, constant_last, sum, maximum);
}
