// Matrix–vector products with GGUF weights kept in their quantized blocks (Q8_0, Q4_0, Q4_1), as llama.cpp computes
// them: each input row is first quantized to 8-bit blocks of 32 (one float scale per block, and the block's sum
// d·Σq for the weight types with an offset, as llama.cpp's Q8_1), then every weight block meets every input block in
// an integer dot product, and only the block's scales are float. Decoding reads 0.56–1.06 bytes per weight instead of 4.
//
// Paths: scalar (the reference), AVX2 (vpmaddubsw + vpmaddwd, as llama.cpp's x86 kernels) and AVX-512 VNNI
// (vpdpbusd on 256-bit vectors). All three compute the same integer block sums; they differ only in the order the
// per-block float terms are added.
#include "CKernels.h"
#include "dispatch.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TG_X86 1
#endif

typedef struct {
    float d;        // scale: x ≈ d · q
    float s;        // d · Σ q: the block's sum, for the offsets of Q4_0 (−8) and Q4_1 (+m)
    int8_t q[32];
} activation_block;

_Static_assert(sizeof(activation_block) == TG_ACTIVATION_BLOCK_BYTES, "activation block layout");

size_t tg_quantized_block_bytes(int type) {
    switch (type) {
    case TG_Q8_0: return 34;
    case TG_Q4_0: return 18;
    case TG_Q4_1: return 20;
    default: return 0;
    }
}

// IEEE half → float, exact for every value (subnormals, infinities, NaN) as ggml's GGML_FP16_TO_FP32.
static inline float half_to_float(const uint8_t *p) {
    const uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {
            exponent = 127 - 15 + 1;
            while ((mantissa & 0x400) == 0) { mantissa <<= 1; exponent--; }
            bits = sign | (exponent << 23) | ((mantissa & 0x3FF) << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7F800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void tg_quantize_activations(const float *x, size_t rows, size_t in, void *blocks) {
    activation_block *out = (activation_block *)blocks;
    const size_t per_row = in / 32;
    for (size_t r = 0; r < rows; r++) {
        for (size_t b = 0; b < per_row; b++) {
            const float *v = x + r * in + b * 32;
            activation_block *block = out + r * per_row + b;
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(v[i]));
            const float d = amax / 127.0f, inverse = d != 0 ? 1.0f / d : 0.0f;
            int32_t sum = 0;
            for (int i = 0; i < 32; i++) {
                const int q = (int)nearbyintf(v[i] * inverse);
                block->q[i] = (int8_t)q;
                sum += q;
            }
            block->d = d;
            block->s = d * (float)sum;
        }
    }
}

// ---- scalar reference ----

static float block_dot_scalar(int type, const uint8_t *w, const activation_block *x) {
    int32_t s = 0;
    switch (type) {
    case TG_Q8_0: {
        for (int i = 0; i < 32; i++) s += (int8_t)w[2 + i] * x->q[i];
        return half_to_float(w) * x->d * (float)s;
    }
    case TG_Q4_0: {
        for (int i = 0; i < 16; i++) s += (w[2 + i] & 0x0F) * x->q[i] + (w[2 + i] >> 4) * x->q[i + 16];
        return half_to_float(w) * x->d * (float)s - 8 * half_to_float(w) * x->s;
    }
    default: {  // Q4_1
        for (int i = 0; i < 16; i++) s += (w[4 + i] & 0x0F) * x->q[i] + (w[4 + i] >> 4) * x->q[i + 16];
        return half_to_float(w) * x->d * (float)s + half_to_float(w + 2) * x->s;
    }
    }
}

static void rows_times_quantized_scalar(int type, const activation_block *x, size_t rows, const uint8_t *w, size_t in,
                                        size_t first, size_t last, float *y, size_t out) {
    const size_t blocks = in / 32, block_bytes = tg_quantized_block_bytes(type);
    for (size_t o = first; o < last; o++) {
        const uint8_t *wo = w + o * blocks * block_bytes;
        for (size_t r = 0; r < rows; r++) {
            float sum = 0;
            for (size_t b = 0; b < blocks; b++) sum += block_dot_scalar(type, wo + b * block_bytes, x + r * blocks + b);
            y[r * out + o] = sum;
        }
    }
}

#ifdef TG_X86
// ---- AVX2 and AVX-512 VNNI ----
// One weight block is unpacked once into 32 bytes (nibbles as unsigned 0…15, Q8_0 as signed), then meets each input
// row's block. The offsets of Q4_0 (−8) and Q4_1 (+m) are the block's input sum times a float, added apart.

#define TG_QUANTIZED_KERNEL(NAME, TARGET, DOT_UNSIGNED)                                                               \
    __attribute__((target(TARGET))) static inline float NAME##_hsum(__m256 v) {                                      \
        const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));                          \
        const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));                                                          \
        return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));                                                 \
    }                                                                                                                 \
    __attribute__((target(TARGET), always_inline)) static inline void NAME##_typed(                                  \
        const int type, const activation_block *x, size_t rows, const uint8_t *w, size_t in, size_t first,            \
        size_t last, float *y, size_t out) {                                                                          \
        const size_t blocks = in / 32, block_bytes = tg_quantized_block_bytes(type);                                 \
        const __m256i low_nibbles = _mm256_set1_epi8(0x0F);                                                           \
        for (size_t o = first; o < last; o++) {                                                                       \
            const uint8_t *wo = w + o * blocks * block_bytes;                                                         \
            __m256 acc[TG_MAX_SIDE_BY_SIDE];                                                                          \
            float offset[TG_MAX_SIDE_BY_SIDE];                                                                        \
            for (size_t r = 0; r < rows; r++) { acc[r] = _mm256_setzero_ps(); offset[r] = 0; }                        \
            for (size_t b = 0; b < blocks; b++) {                                                                     \
                const uint8_t *wb = wo + b * block_bytes;                                                             \
                const float d = _cvtsh_ss((unsigned short)(wb[0] | (wb[1] << 8)));                                    \
                __m256i unsigned_weights, sign_source = _mm256_setzero_si256();                                       \
                float m = 0;                                                                                          \
                if (type == TG_Q8_0) {                                                                                \
                    sign_source = _mm256_loadu_si256((const __m256i *)(wb + 2));                                      \
                    unsigned_weights = _mm256_sign_epi8(sign_source, sign_source);                                    \
                } else {                                                                                              \
                    const __m128i packed = _mm_loadu_si128((const __m128i *)(wb + (type == TG_Q4_1 ? 4 : 2)));       \
                    unsigned_weights = _mm256_and_si256(                                                              \
                        _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), low_nibbles);                            \
                    if (type == TG_Q4_1) m = _cvtsh_ss((unsigned short)(wb[2] | (wb[3] << 8)));                       \
                }                                                                                                     \
                for (size_t r = 0; r < rows; r++) {                                                                   \
                    const activation_block *xb = x + r * blocks + b;                                                  \
                    __m256i xq = _mm256_loadu_si256((const __m256i *)xb->q);                                          \
                    if (type == TG_Q8_0) xq = _mm256_sign_epi8(xq, sign_source);                                      \
                    const __m256 products = _mm256_cvtepi32_ps(DOT_UNSIGNED(unsigned_weights, xq));                   \
                    acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * xb->d), products, acc[r]);                            \
                    if (type == TG_Q4_0) offset[r] -= 8 * d * xb->s;                              \
                    if (type == TG_Q4_1) offset[r] += m * xb->s;                                     \
                }                                                                                                     \
            }                                                                                                         \
            for (size_t r = 0; r < rows; r++) y[r * out + o] = NAME##_hsum(acc[r]) + offset[r];                       \
        }                                                                                                             \
    }                                                                                                                 \
    /* One input row: the block products of one weight row summed in two chains (even and odd blocks), so the      \
       FMA latency of one block overlaps the next; named variables keep every accumulator in a register. */         \
    __attribute__((target(TARGET), always_inline)) static inline __m256 NAME##_block(                                \
        const int type, const uint8_t *wb, const activation_block *xb, float *offset) {                              \
        const float d = _cvtsh_ss((unsigned short)(wb[0] | (wb[1] << 8)));                                            \
        const __m256i xq = _mm256_loadu_si256((const __m256i *)xb->q);                                                \
        __m256i products;                                                                                             \
        if (type == TG_Q8_0) {                                                                                        \
            const __m256i q = _mm256_loadu_si256((const __m256i *)(wb + 2));                                          \
            products = DOT_UNSIGNED(_mm256_sign_epi8(q, q), _mm256_sign_epi8(xq, q));                                 \
        } else {                                                                                                      \
            const __m128i packed = _mm_loadu_si128((const __m128i *)(wb + (type == TG_Q4_1 ? 4 : 2)));               \
            products = DOT_UNSIGNED(                                                                                  \
                _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0x0F)), xq);   \
        }                                                                                                             \
        if (type == TG_Q4_0) *offset -= 8 * d * xb->s;                                            \
        if (type == TG_Q4_1) *offset += _cvtsh_ss((unsigned short)(wb[2] | (wb[3] << 8))) * xb->s;   \
        return _mm256_mul_ps(_mm256_set1_ps(d * xb->d), _mm256_cvtepi32_ps(products));                                \
    }                                                                                                                 \
    __attribute__((target(TARGET), always_inline)) static inline void NAME##_one_row_typed(                          \
        const int type, const activation_block *x, const uint8_t *w, size_t in, size_t first, size_t last, float *y) {\
        const size_t blocks = in / 32, block_bytes = tg_quantized_block_bytes(type);                                 \
        for (size_t o = first; o < last; o++) {                                                                       \
            const uint8_t *wo = w + o * blocks * block_bytes;                                                         \
            __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();                                             \
            float offset_even = 0, offset_odd = 0;                                                                    \
            size_t b = 0;                                                                                             \
            for (; b + 2 <= blocks; b += 2) {                                                                         \
                even = _mm256_add_ps(even, NAME##_block(type, wo + b * block_bytes, x + b, &offset_even));            \
                odd = _mm256_add_ps(odd, NAME##_block(type, wo + (b + 1) * block_bytes, x + b + 1, &offset_odd));     \
            }                                                                                                         \
            if (b < blocks) even = _mm256_add_ps(even, NAME##_block(type, wo + b * block_bytes, x + b, &offset_even));\
            y[o] = NAME##_hsum(_mm256_add_ps(even, odd)) + (offset_even + offset_odd);                                \
        }                                                                                                             \
    }                                                                                                                 \
    /* Two input rows (the guard's original and patched streams): each weight block unpacked once, two chains. */    \
    __attribute__((target(TARGET), always_inline)) static inline void NAME##_two_rows_typed(                         \
        const int type, const activation_block *x, const uint8_t *w, size_t in, size_t first, size_t last, float *y,  \
        size_t out) {                                                                                                 \
        const size_t blocks = in / 32, block_bytes = tg_quantized_block_bytes(type);                                 \
        const activation_block *x0 = x, *x1 = x + blocks;                                                             \
        for (size_t o = first; o < last; o++) {                                                                       \
            const uint8_t *wo = w + o * blocks * block_bytes;                                                         \
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                           \
            float offset0 = 0, offset1 = 0;                                                                           \
            for (size_t b = 0; b < blocks; b++) {                                                                     \
                const uint8_t *wb = wo + b * block_bytes;                                                             \
                const float d = _cvtsh_ss((unsigned short)(wb[0] | (wb[1] << 8)));                                    \
                __m256i q0 = _mm256_loadu_si256((const __m256i *)x0[b].q);                                            \
                __m256i q1 = _mm256_loadu_si256((const __m256i *)x1[b].q);                                            \
                __m256i weights;                                                                                      \
                if (type == TG_Q8_0) {                                                                                \
                    const __m256i q = _mm256_loadu_si256((const __m256i *)(wb + 2));                                  \
                    weights = _mm256_sign_epi8(q, q);                                                                 \
                    q0 = _mm256_sign_epi8(q0, q);                                                                     \
                    q1 = _mm256_sign_epi8(q1, q);                                                                     \
                } else {                                                                                              \
                    const __m128i packed = _mm_loadu_si128((const __m128i *)(wb + (type == TG_Q4_1 ? 4 : 2)));       \
                    weights = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed),                  \
                                               _mm256_set1_epi8(0x0F));                                               \
                }                                                                                                     \
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d * x0[b].d), _mm256_cvtepi32_ps(DOT_UNSIGNED(weights, q0)), acc0);\
                acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d * x1[b].d), _mm256_cvtepi32_ps(DOT_UNSIGNED(weights, q1)), acc1);\
                if (type == TG_Q4_0) {                                                                                \
                    offset0 -= 8 * d * x0[b].s;                                                 \
                    offset1 -= 8 * d * x1[b].s;                                                 \
                }                                                                                                     \
                if (type == TG_Q4_1) {                                                                                \
                    const float m = _cvtsh_ss((unsigned short)(wb[2] | (wb[3] << 8)));                                \
                    offset0 += m * x0[b].s;                                                        \
                    offset1 += m * x1[b].s;                                                        \
                }                                                                                                     \
            }                                                                                                         \
            y[o] = NAME##_hsum(acc0) + offset0;                                                                       \
            y[out + o] = NAME##_hsum(acc1) + offset1;                                                                 \
        }                                                                                                             \
    }                                                                                                                 \
    __attribute__((target(TARGET))) static void NAME(int type, const activation_block *x, size_t rows,               \
                                                     const uint8_t *w, size_t in, size_t first, size_t last,         \
                                                     float *y, size_t out) {                                          \
        if (rows == 1) {                                                                                              \
            switch (type) {                                                                                           \
            case TG_Q8_0: NAME##_one_row_typed(TG_Q8_0, x, w, in, first, last, y); return;                            \
            case TG_Q4_0: NAME##_one_row_typed(TG_Q4_0, x, w, in, first, last, y); return;                            \
            default: NAME##_one_row_typed(TG_Q4_1, x, w, in, first, last, y); return;                                 \
            }                                                                                                         \
        }                                                                                                             \
        if (rows == 2) {                                                                                              \
            switch (type) {                                                                                           \
            case TG_Q8_0: NAME##_two_rows_typed(TG_Q8_0, x, w, in, first, last, y, out); return;                      \
            case TG_Q4_0: NAME##_two_rows_typed(TG_Q4_0, x, w, in, first, last, y, out); return;                      \
            default: NAME##_two_rows_typed(TG_Q4_1, x, w, in, first, last, y, out); return;                           \
            }                                                                                                         \
        }                                                                                                             \
        switch (type) {                                                                                               \
        case TG_Q8_0: NAME##_typed(TG_Q8_0, x, rows, w, in, first, last, y, out); break;                              \
        case TG_Q4_0: NAME##_typed(TG_Q4_0, x, rows, w, in, first, last, y, out); break;                              \
        default: NAME##_typed(TG_Q4_1, x, rows, w, in, first, last, y, out); break;                                   \
        }                                                                                                             \
    }

// Σ over each group of four bytes of unsigned·signed, as eight int32 lanes.
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline __m256i dot_avx2(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
__attribute__((target("avx2,fma,f16c,avx512vl,avx512vnni"), always_inline)) static inline __m256i dot_vnni(__m256i u,
                                                                                                         __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

TG_QUANTIZED_KERNEL(rows_times_quantized_avx2, "avx2,fma,f16c", dot_avx2)
TG_QUANTIZED_KERNEL(rows_times_quantized_vnni, "avx2,fma,f16c,avx512vl,avx512vnni", dot_vnni)

static int has_vnni(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")
              && __builtin_cpu_supports("f16c");
    }
    return cached;
}

static int has_f16c(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("f16c");
    }
    return cached;
}
#endif

int tg_quantized_path(void) {
#ifdef TG_X86
    const int level = tg_vector_path();
    if (level >= 2 && has_vnni()) return 2;
    if (level >= 1 && has_f16c()) return 1;
#endif
    return 0;
}

void tg_rows_times_quantized(int type, const void *x, size_t rows, const void *w, size_t in, size_t first, size_t last,
                             float *y, size_t out) {
    if (rows == 0 || rows > TG_MAX_SIDE_BY_SIDE || tg_quantized_block_bytes(type) == 0 || in % 32 != 0) return;
    const activation_block *blocks = (const activation_block *)x;
    const uint8_t *weights = (const uint8_t *)w;
#ifdef TG_X86
    switch (tg_quantized_path()) {
    case 2: rows_times_quantized_vnni(type, blocks, rows, weights, in, first, last, y, out); return;
    case 1: rows_times_quantized_avx2(type, blocks, rows, weights, in, first, last, y, out); return;
    default: break;
    }
#endif
    rows_times_quantized_scalar(type, blocks, rows, weights, in, first, last, y, out);
}
