// SiLU over large float buffers for the TeleLoRA generator, which evaluates it on every element of N×H×c tensors
// (hundreds of millions of values for a 100M-parameter model), and its two exchangeable layers fused per row.
// Swift's portable build targets baseline x86-64 (4-wide SSE, no FMA); here 16-wide AVX-512 and 8-wide AVX2+FMA
// paths are compiled alongside and picked at run time.
//
// e^x follows Cephes expf (range reduction by ln 2 in two parts, degree-6 polynomial, 2^n through the exponent
// bits; AVX-512 applies 2^n with scalef, the same value), the same constants as Guard/VectorMath.swift, so all
// paths agree to float rounding (FMA contracts).
#include "CKernels.h"
#include "dispatch.h"

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

// The row kernels below (c = 32) take several neurons per step. One neuron's work is a single chain of dependent
// instructions (SiLU, 32 FMAs, SiLU: some 270 cycles of latency) that the core could not overlap with the next
// neuron's, which left the vector units two-thirds idle; with independent chains side by side, and each row of T1_last
// loaded once for all of them, they stay busy (AVX-512: 1.5x faster per element, same bits).
//
// AVX2: four 8-wide registers per neuron, two neurons per step (the 16 registers hold their eight accumulators, one
// row of T1_last and the broadcasts).
__attribute__((target("avx2,fma"), always_inline)) static inline void avx2_first_layer_pair(
    const float *x, size_t h, int count, const __m256 *t1, const float *term, const __m256 *constant, __m256 z[2][4]) {
    for (int i = 0; i < count; i++) {
        const __m256 v = _mm256_set1_ps(x[h + i]);
        const float *th = term + (h + i) * 32;
        for (int q = 0; q < 4; q++)
            z[i][q] = _mm256_fmadd_ps(v, t1[q], _mm256_add_ps(_mm256_loadu_ps(th + 8 * q), constant[q]));
    }
    for (int i = 0; i < count; i++)
        for (int q = 0; q < 4; q++) z[i][q] = avx2_silu(z[i][q]);
}

__attribute__((target("avx2,fma"), always_inline)) static inline void avx2_first_row_block(
    const float *x, size_t h, int count, const __m256 *t1, const float *term, const __m256 *constant, float *column_sum,
    __m256 *row) {
    __m256 z[2][4];
    avx2_first_layer_pair(x, h, count, t1, term, constant, z);
    for (int i = 0; i < count; i++) {
        float *sh = column_sum + (h + i) * 32;
        for (int q = 0; q < 4; q++) {
            _mm256_storeu_ps(sh + 8 * q, _mm256_add_ps(_mm256_loadu_ps(sh + 8 * q), z[i][q]));
            row[q] = _mm256_add_ps(row[q], z[i][q]);
        }
    }
}

__attribute__((target("avx2,fma"))) static void first_row_avx2_c32(const float *x, size_t width, const float *t1_first,
                                                                 const float *term, const float *constant_first,
                                                                 float *column_sum, float *row_sum) {
    __m256 t1[4], constant[4], row[4];
    for (int q = 0; q < 4; q++) {
        t1[q] = _mm256_loadu_ps(t1_first + 8 * q);
        constant[q] = _mm256_loadu_ps(constant_first + 8 * q);
        row[q] = _mm256_setzero_ps();
    }
    size_t h = 0;
    for (; h + 2 <= width; h += 2) avx2_first_row_block(x, h, 2, t1, term, constant, column_sum, row);
    if (h < width) avx2_first_row_block(x, h, 1, t1, term, constant, column_sum, row);
    for (int q = 0; q < 4; q++) _mm256_storeu_ps(row_sum + 8 * q, _mm256_add_ps(_mm256_loadu_ps(row_sum + 8 * q), row[q]));
}

__attribute__((target("avx2,fma"), always_inline)) static inline void avx2_pair_row_block(
    const float *x, size_t h, int count, const __m256 *t1, const float *term, const __m256 *constant,
    const float *t1_last, const float *term_last, const float *constant_last, float *sum, float *maximum) {
    __m256 z[2][4];
    avx2_first_layer_pair(x, h, count, t1, term, constant, z);
    float z0[2][32] __attribute__((aligned(32)));
    for (int i = 0; i < count; i++)
        for (int q = 0; q < 4; q++) _mm256_store_ps(z0[i] + 8 * q, z[i][q]);
    __m256 acc[2][4];
    for (int i = 0; i < count; i++)
        for (int q = 0; q < 4; q++)
            acc[i][q] = _mm256_add_ps(_mm256_loadu_ps(term_last + (h + i) * 32 + 8 * q), _mm256_loadu_ps(constant_last + 8 * q));
    for (size_t j = 0; j < 32; j++) {
        for (int i = 0; i < count; i++) {
            const __m256 w = _mm256_broadcast_ss(&z0[i][j]);
            for (int q = 0; q < 4; q++) acc[i][q] = _mm256_fmadd_ps(w, _mm256_loadu_ps(t1_last + j * 32 + 8 * q), acc[i][q]);
        }
    }
    for (int i = 0; i < count; i++) {
        float *sh = sum + (h + i) * 32, *mh = maximum + (h + i) * 32;
        for (int q = 0; q < 4; q++) {
            const __m256 s = avx2_silu(acc[i][q]);
            _mm256_storeu_ps(sh + 8 * q, _mm256_add_ps(_mm256_loadu_ps(sh + 8 * q), s));
            _mm256_storeu_ps(mh + 8 * q, _mm256_max_ps(_mm256_loadu_ps(mh + 8 * q), s));
        }
    }
}

__attribute__((target("avx2,fma"))) static void pair_row_avx2_c32(const float *x, size_t width, const float *t1_first,
                                                                const float *term, const float *constant_first,
                                                                const float *t1_last, const float *term_last,
                                                                const float *constant_last, float *sum, float *maximum) {
    __m256 t1[4], constant[4];
    for (int q = 0; q < 4; q++) {
        t1[q] = _mm256_loadu_ps(t1_first + 8 * q);
        constant[q] = _mm256_loadu_ps(constant_first + 8 * q);
    }
    size_t h = 0;
    for (; h + 2 <= width; h += 2)
        avx2_pair_row_block(x, h, 2, t1, term, constant, t1_last, term_last, constant_last, sum, maximum);
    if (h < width) avx2_pair_row_block(x, h, 1, t1, term, constant, t1_last, term_last, constant_last, sum, maximum);
}

__attribute__((target("avx512f"))) static inline __m512 avx512_silu(__m512 v) {
    // Only the upper clamp: past it e^x is inf and the reciprocal step below would make 0·inf. Below the lower bound
    // scalef gives 0 (or a subnormal) where the bit construction of 2^n would wrap, so no clamp is needed there.
    const __m512 x = _mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), v), _mm512_set1_ps(kExpHi));
    const __m512 shifter = _mm512_set1_ps(kShifter);
    const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(kLog2e), shifter), shifter);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
    __m512 p = _mm512_set1_ps(kP0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP5));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    // y·2^n in one instruction (exact, as the multiply by the constructed power of two it replaces).
    const __m512 e = _mm512_scalef_ps(y, n);
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

// AVX-512: two 16-wide registers per neuron, `kBlock` neurons per step.
enum { kBlock = 4 };

// The first layer's pre-activations of `count` neurons from h on (count is a constant where this is inlined).
__attribute__((target("avx512f"), always_inline)) static inline void first_layer_block(
    const float *x, size_t h, int count, __m512 t1a, __m512 t1b, const float *term, __m512 ca, __m512 cb,
    __m512 *za, __m512 *zb) {
    for (int i = 0; i < count; i++) {
        const __m512 v = _mm512_set1_ps(x[h + i]);
        const float *th = term + (h + i) * 32;
        za[i] = _mm512_fmadd_ps(v, t1a, _mm512_add_ps(_mm512_loadu_ps(th), ca));
        zb[i] = _mm512_fmadd_ps(v, t1b, _mm512_add_ps(_mm512_loadu_ps(th + 16), cb));
    }
    for (int i = 0; i < count; i++) {
        za[i] = avx512_silu(za[i]);
        zb[i] = avx512_silu(zb[i]);
    }
}

__attribute__((target("avx512f"), always_inline)) static inline void first_row_block(
    const float *x, size_t h, int count, __m512 t1a, __m512 t1b, const float *term, __m512 ca, __m512 cb,
    float *column_sum, __m512 *ra, __m512 *rb) {
    __m512 za[kBlock], zb[kBlock];
    first_layer_block(x, h, count, t1a, t1b, term, ca, cb, za, zb);
    for (int i = 0; i < count; i++) {
        float *sh = column_sum + (h + i) * 32;
        _mm512_storeu_ps(sh, _mm512_add_ps(_mm512_loadu_ps(sh), za[i]));
        _mm512_storeu_ps(sh + 16, _mm512_add_ps(_mm512_loadu_ps(sh + 16), zb[i]));
        *ra = _mm512_add_ps(*ra, za[i]);
        *rb = _mm512_add_ps(*rb, zb[i]);
    }
}

__attribute__((target("avx512f"))) static void first_row_avx512_c32(const float *x, size_t width, const float *t1,
                                                                   const float *term, const float *constant,
                                                                   float *column_sum, float *row_sum) {
    const __m512 t1a = _mm512_loadu_ps(t1), t1b = _mm512_loadu_ps(t1 + 16);
    const __m512 ca = _mm512_loadu_ps(constant), cb = _mm512_loadu_ps(constant + 16);
    __m512 ra = _mm512_setzero_ps(), rb = _mm512_setzero_ps();
    size_t h = 0;
    for (; h + kBlock <= width; h += kBlock) first_row_block(x, h, kBlock, t1a, t1b, term, ca, cb, column_sum, &ra, &rb);
    for (; h < width; h++) first_row_block(x, h, 1, t1a, t1b, term, ca, cb, column_sum, &ra, &rb);
    _mm512_storeu_ps(row_sum, _mm512_add_ps(_mm512_loadu_ps(row_sum), ra));
    _mm512_storeu_ps(row_sum + 16, _mm512_add_ps(_mm512_loadu_ps(row_sum + 16), rb));
}

__attribute__((target("avx512f"), always_inline)) static inline void pair_row_block(
    const float *x, size_t h, int count, __m512 t1a, __m512 t1b, const float *term, __m512 ca, __m512 cb,
    const float *t1_last, const float *term_last, __m512 la, __m512 lb, float *sum, float *maximum) {
    __m512 za[kBlock], zb[kBlock];
    first_layer_block(x, h, count, t1a, t1b, term, ca, cb, za, zb);
    float z0[kBlock][32] __attribute__((aligned(64)));
    for (int i = 0; i < count; i++) {
        _mm512_store_ps(z0[i], za[i]);
        _mm512_store_ps(z0[i] + 16, zb[i]);
    }
    // Two chains per half (even and odd input channels), summed at the end, as in the one-neuron version before.
    __m512 a0[kBlock], b0[kBlock], a1[kBlock], b1[kBlock];
    for (int i = 0; i < count; i++) {
        const float *lh = term_last + (h + i) * 32;
        a0[i] = _mm512_add_ps(_mm512_loadu_ps(lh), la);
        b0[i] = _mm512_add_ps(_mm512_loadu_ps(lh + 16), lb);
        a1[i] = _mm512_setzero_ps();
        b1[i] = _mm512_setzero_ps();
    }
    for (size_t j = 0; j < 32; j += 2) {
        const __m512 ea = _mm512_loadu_ps(t1_last + j * 32), eb = _mm512_loadu_ps(t1_last + j * 32 + 16);
        const __m512 oa = _mm512_loadu_ps(t1_last + (j + 1) * 32), ob = _mm512_loadu_ps(t1_last + (j + 1) * 32 + 16);
        for (int i = 0; i < count; i++) {
            const __m512 z = _mm512_set1_ps(z0[i][j]), w = _mm512_set1_ps(z0[i][j + 1]);
            a0[i] = _mm512_fmadd_ps(z, ea, a0[i]);
            b0[i] = _mm512_fmadd_ps(z, eb, b0[i]);
            a1[i] = _mm512_fmadd_ps(w, oa, a1[i]);
            b1[i] = _mm512_fmadd_ps(w, ob, b1[i]);
        }
    }
    for (int i = 0; i < count; i++) {
        a0[i] = avx512_silu(_mm512_add_ps(a0[i], a1[i]));
        b0[i] = avx512_silu(_mm512_add_ps(b0[i], b1[i]));
    }
    for (int i = 0; i < count; i++) {
        float *sh = sum + (h + i) * 32, *mh = maximum + (h + i) * 32;
        _mm512_storeu_ps(sh, _mm512_add_ps(_mm512_loadu_ps(sh), a0[i]));
        _mm512_storeu_ps(sh + 16, _mm512_add_ps(_mm512_loadu_ps(sh + 16), b0[i]));
        _mm512_storeu_ps(mh, _mm512_max_ps(_mm512_loadu_ps(mh), a0[i]));
        _mm512_storeu_ps(mh + 16, _mm512_max_ps(_mm512_loadu_ps(mh + 16), b0[i]));
    }
}

__attribute__((target("avx512f"))) static void pair_row_avx512_c32(const float *x, size_t width, const float *t1,
                                                                  const float *term, const float *constant,
                                                                  const float *t1_last, const float *term_last,
                                                                  const float *constant_last, float *sum, float *maximum) {
    const __m512 t1a = _mm512_loadu_ps(t1), t1b = _mm512_loadu_ps(t1 + 16);
    const __m512 ca = _mm512_loadu_ps(constant), cb = _mm512_loadu_ps(constant + 16);
    const __m512 la = _mm512_loadu_ps(constant_last), lb = _mm512_loadu_ps(constant_last + 16);
    size_t h = 0;
    for (; h + kBlock <= width; h += kBlock)
        pair_row_block(x, h, kBlock, t1a, t1b, term, ca, cb, t1_last, term_last, la, lb, sum, maximum);
    for (; h < width; h++) pair_row_block(x, h, 1, t1a, t1b, term, ca, cb, t1_last, term_last, la, lb, sum, maximum);
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

int tg_vector_path(void) {
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

int tg_kernels_vectorized(void) { return tg_vector_path(); }

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
    if (tg_vector_path() == 2) { silu_avx512(z, count); return; }
    if (tg_vector_path() == 1) { silu_avx2(z, count); return; }
#endif
    silu_scalar(z, count);
}

void tg_silu_accumulate(float *z, size_t count, float *sum, float *maximum) {
#ifdef TG_X86
    if (tg_vector_path() == 2) { silu_accumulate_avx512(z, count, sum, maximum); return; }
    if (tg_vector_path() == 1) { silu_accumulate_avx2(z, count, sum, maximum); return; }
#endif
    silu_accumulate_scalar(z, count, sum, maximum);
}

void tg_exchangeable_first_row(const float *x, size_t width, size_t c, const float *t1_first, const float *term_first,
                               const float *constant_first, float *column_sum, float *row_sum) {
#ifdef TG_X86
    if (c == 32 && tg_vector_path() == 2) {
        first_row_avx512_c32(x, width, t1_first, term_first, constant_first, column_sum, row_sum);
        return;
    }
    if (c == 32 && tg_vector_path() == 1) {
        first_row_avx2_c32(x, width, t1_first, term_first, constant_first, column_sum, row_sum);
        return;
    }
#endif
    first_row_scalar(x, width, c, t1_first, term_first, constant_first, column_sum, row_sum);
}

void tg_exchangeable_pair_row(const float *x, size_t width, size_t c, const float *t1_first, const float *term_first,
                              const float *constant_first, const float *t1_last, const float *term_last,
                              const float *constant_last, float *sum, float *maximum) {
#ifdef TG_X86
    if (c == 32 && tg_vector_path() == 2) {
        pair_row_avx512_c32(x, width, t1_first, term_first, constant_first, t1_last, term_last, constant_last, sum, maximum);
        return;
    }
    if (c == 32 && tg_vector_path() == 1) {
        pair_row_avx2_c32(x, width, t1_first, term_first, constant_first, t1_last, term_last, constant_last, sum, maximum);
        return;
    }
#endif
    pair_row_scalar(x, width, c, t1_first, term_first, constant_first, t1_last, term_last, constant_last, sum, maximum);
}

// ---------------------------------------------------------------------------------------------------------------
// A few input rows times one weight matrix, each weight row read once for all of them. Decoding is bound by reading
// the weights: a decode step of two sequences side by side (the guard's original and patched streams) through
// OpenBLAS's sgemm with M = 2 packs the weights first and ran slower than two matrix-vector products; here the two
// rows cost about one.

static void rows_times_weight_scalar(const float *x, size_t rows, const float *w, size_t in, size_t first, size_t last,
                                     float *y, size_t out) {
    for (size_t o = first; o < last; o++) {
        const float *wo = w + o * in;
        for (size_t r = 0; r < rows; r++) {
            const float *xr = x + r * in;
            float sum = 0;
            for (size_t i = 0; i < in; i++) sum += wo[i] * xr[i];
            y[r * out + o] = sum;
        }
    }
}

#ifdef TG_X86
__attribute__((target("avx2,fma"))) static inline float avx2_hsum(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

__attribute__((target("avx2,fma"))) static void rows_times_weight_avx2(const float *x, size_t rows, const float *w,
                                                                       size_t in, size_t first, size_t last, float *y,
                                                                       size_t out) {
    const size_t whole = in & ~(size_t)7;
    for (size_t o = first; o < last; o++) {
        const float *wo = w + o * in;
        __m256 acc[TG_MAX_SIDE_BY_SIDE];
        for (size_t r = 0; r < rows; r++) acc[r] = _mm256_setzero_ps();
        for (size_t i = 0; i < whole; i += 8) {
            const __m256 wv = _mm256_loadu_ps(wo + i);
            for (size_t r = 0; r < rows; r++) acc[r] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + r * in + i), acc[r]);
        }
        for (size_t r = 0; r < rows; r++) {
            float sum = avx2_hsum(acc[r]);
            for (size_t i = whole; i < in; i++) sum += wo[i] * x[r * in + i];
            y[r * out + o] = sum;
        }
    }
}
#endif

#ifdef TG_X86
// Two rows (the guard's two streams), written out so that the eight accumulators stay in registers: two chains per
// row over alternate 8-float blocks, so the loop waits on memory rather than on FMA latency.
__attribute__((target("avx2,fma"))) static void two_rows_times_weight_avx2(const float *x, const float *w, size_t in,
                                                                           size_t first, size_t last, float *y,
                                                                           size_t out) {
    const float *x0 = x, *x1 = x + in;
    const size_t blocks = in & ~(size_t)15;
    for (size_t o = first; o < last; o++) {
        const float *wo = w + o * in;
        __m256 a0 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
        size_t i = 0;
        for (; i < blocks; i += 16) {
            const __m256 wa = _mm256_loadu_ps(wo + i), wb = _mm256_loadu_ps(wo + i + 8);
            a0 = _mm256_fmadd_ps(wa, _mm256_loadu_ps(x0 + i), a0);
            b0 = _mm256_fmadd_ps(wb, _mm256_loadu_ps(x0 + i + 8), b0);
            a1 = _mm256_fmadd_ps(wa, _mm256_loadu_ps(x1 + i), a1);
            b1 = _mm256_fmadd_ps(wb, _mm256_loadu_ps(x1 + i + 8), b1);
        }
        float s0 = avx2_hsum(_mm256_add_ps(a0, b0)), s1 = avx2_hsum(_mm256_add_ps(a1, b1));
        for (; i < in; i++) {
            s0 += wo[i] * x0[i];
            s1 += wo[i] * x1[i];
        }
        y[o] = s0;
        y[out + o] = s1;
    }
}
#endif

void tg_rows_times_weight(const float *x, size_t rows, const float *w, size_t in, size_t first, size_t last, float *y,
                          size_t out) {
    if (rows == 0 || rows > TG_MAX_SIDE_BY_SIDE) return;
#ifdef TG_X86
    if (tg_vector_path() >= 1 && rows == 2) { two_rows_times_weight_avx2(x, w, in, first, last, y, out); return; }
    if (tg_vector_path() >= 1) { rows_times_weight_avx2(x, rows, w, in, first, last, y, out); return; }
#endif
    rows_times_weight_scalar(x, rows, w, in, first, last, y, out);
}

// Attention of one decoding position: out[j] = Σ_l weights[l]·values[l·width + j]. OpenBLAS's sgemv threads products
// this small, and its spinning workers then compete with the decoding pool for the same cores.
static void weighted_rows_scalar(const float *weights, size_t count, const float *values, size_t width, float *out) {
    for (size_t j = 0; j < width; j++) out[j] = 0;
    for (size_t l = 0; l < count; l++) {
        const float s = weights[l];
        const float *row = values + l * width;
        for (size_t j = 0; j < width; j++) out[j] += s * row[j];
    }
}

#ifdef TG_X86
__attribute__((target("avx2,fma"))) static void weighted_rows_avx2(const float *weights, size_t count,
                                                                   const float *values, size_t width, float *out) {
    const size_t whole = width & ~(size_t)7;
    for (size_t j = 0; j < whole; j += 8) {
        __m256 acc = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps();
        size_t l = 0;
        for (; l + 2 <= count; l += 2) {
            acc = _mm256_fmadd_ps(_mm256_set1_ps(weights[l]), _mm256_loadu_ps(values + l * width + j), acc);
            acc2 = _mm256_fmadd_ps(_mm256_set1_ps(weights[l + 1]), _mm256_loadu_ps(values + (l + 1) * width + j), acc2);
        }
        if (l < count) acc = _mm256_fmadd_ps(_mm256_set1_ps(weights[l]), _mm256_loadu_ps(values + l * width + j), acc);
        _mm256_storeu_ps(out + j, _mm256_add_ps(acc, acc2));
    }
    for (size_t j = whole; j < width; j++) {
        float sum = 0;
        for (size_t l = 0; l < count; l++) sum += weights[l] * values[l * width + j];
        out[j] = sum;
    }
}
#endif

void tg_weighted_rows(const float *weights, size_t count, const float *values, size_t width, float *out) {
#ifdef TG_X86
    if (tg_vector_path() >= 1) { weighted_rows_avx2(weights, count, values, width, out); return; }
#endif
    weighted_rows_scalar(weights, count, values, width, out);
}
