#ifndef TELEGUARD_CKERNELS_H
#define TELEGUARD_CKERNELS_H

#include <stddef.h>

/// `z[i] ← z[i] / (1 + e^(−z[i]))` for i < count. AVX-512 or AVX2+FMA when the CPU has it (chosen once, at first
/// call), otherwise the same arithmetic one element at a time.
void tg_silu_inplace(float *z, size_t count);

/// SiLU in place as above, then `sum[i] += z[i]` and `maximum[i] = max(maximum[i], z[i])`: the generator's last
/// exchangeable layer pools each finished row into running means and maxima in the same pass over it.
void tg_silu_accumulate(float *z, size_t count, float *sum, float *maximum);

/// 2 when the AVX-512 kernels are in use, 1 for AVX2+FMA, 0 for scalar code.
int tg_kernels_vectorized(void);

/// Use no kernels above `level` (0 scalar, 1 AVX2+FMA, 2 AVX-512) even where the CPU has them: lets the tests run
/// every path this CPU supports against the others. Not for concurrent use with the kernels.
void tg_kernels_limit(int level);

/// CPU features (cpuid, with the OS's register-state support) that decide which OpenBLAS kernel set fits this CPU:
/// AVX2 and FMA; AVX-512 F, CD, BW, DQ and VL (OpenBLAS's SkylakeX kernels). 0 on other architectures.
int tg_cpu_has_avx2_fma(void);
int tg_cpu_has_avx512_skylakex(void);

/// The most input rows `tg_rows_times_weight` takes.
#define TG_MAX_SIDE_BY_SIDE 4

/// `y[r·out + o] = Σ_i x[r·in + i]·w[o·in + i]` for input rows r < rows (1 ≤ rows ≤ TG_MAX_SIDE_BY_SIDE) and outputs
/// o in [first, last) of a row-major weight w (out × in): each weight row is read once for all input rows (decoding a
/// few sequences side by side). AVX2+FMA when the CPU has it, else scalar.
void tg_rows_times_weight(const float *x, size_t rows, const float *w, size_t in, size_t first, size_t last, float *y,
                          size_t out);

/// GGUF block types the quantized kernels multiply directly (ggml type codes).
#define TG_Q4_0 2
#define TG_Q4_1 3
#define TG_Q8_0 8

/// Bytes of one block of 32 weights of `type` as GGUF stores it (34 Q8_0, 18 Q4_0, 20 Q4_1); 0 for other types.
size_t tg_quantized_block_bytes(int type);

/// Bytes of one quantized block of 32 inputs (float scale d, float d·Σq, 32 × int8 q).
#define TG_ACTIVATION_BLOCK_BYTES 40

/// Quantizes `rows` input rows of `in` floats (`in` a multiple of 32) to 8-bit blocks, `rows · in / 32` blocks of
/// TG_ACTIVATION_BLOCK_BYTES each into `blocks`: per block d = max|x| / 127, q = round(x / d).
void tg_quantize_activations(const float *x, size_t rows, size_t in, void *blocks);

/// `y[r·out + o] = Σ_blocks dot(weight block, input block)` for input rows r < rows (1 ≤ rows ≤ TG_MAX_SIDE_BY_SIDE,
/// quantized by `tg_quantize_activations`) and outputs o in [first, last) of a weight stored as GGUF rows of `type`
/// blocks (out × in, `in` a multiple of 32). Each weight block is read once for all input rows.
void tg_rows_times_quantized(int type, const void *x, size_t rows, const void *w, size_t in, size_t first, size_t last,
                             float *y, size_t out);

/// 2 when the quantized kernels use AVX-512 VNNI, 1 for AVX2 (with F16C), 0 for scalar code; capped by
/// `tg_kernels_limit`.
int tg_quantized_path(void);

/// Runs `task(context, part, parts)` for part < parts on the calling thread and parts − 1 pooled workers (started on
/// first use, spinning ~1 ms between tasks, then sleeping); returns when every part is done. One task at a time:
/// concurrent callers take turns. parts ≤ 64.
void tg_parallel(void (*task)(void *context, size_t part, size_t parts), void *context, size_t parts);

/// float32 weights and inputs, for `tg_rows_times_matrix_parallel` (ggml's type code for F32).
#define TG_F32 0

/// `tg_rows_times_weight` (type TG_F32: float rows x, float weights w) or `tg_rows_times_quantized` (a block type:
/// 8-bit input blocks x, quantized weights w) over all `out` outputs, split into `parts` ranges run by `tg_parallel`.
void tg_rows_times_matrix_parallel(int type, const void *x, size_t rows, const void *w, size_t in, size_t out, float *y,
                                   size_t parts);

/// `out[j] = Σ_l weights[l] · values[l·width + j]` for j < width: one decoding position's attention output from its
/// softmax weights over `count` cached value rows. AVX2+FMA when the CPU has it, else scalar.
void tg_weighted_rows(const float *weights, size_t count, const float *values, size_t width, float *out);

#endif

/// The TeleLoRA generator's two exchangeable layers fused with the pooling over N, one row n of X at a time, so
/// that no N×H×c tensor is ever written (training/generator.py, `ExchangeableLayer` ×2 then mean/max over N).
/// `c` channels; the first layer has one input channel. For neuron h of row n:
///   z0[h] = silu(x[h]·t1_first + term_first[h] + constant_first)                       (c values)
///   z1[h] = silu(z0[h]·T1_last + term_last[h] + constant_last)                           (T1_last: c×c, row-major)
/// `tg_exchangeable_first_row` adds z0[h] to column_sum[h] and returns Σ_h z0[h] in row_sum (both c wide);
/// `tg_exchangeable_pair_row` adds z1[h] to sum[h] and takes the elementwise max into maximum[h].
/// term_* are H×c, constant_* c wide (the row's mean_H·T3 + mean_{N,H}·T4 + b). AVX-512 or AVX2+FMA for c = 32, else
/// scalar.
void tg_exchangeable_first_row(const float *x, size_t width, size_t c, const float *t1_first, const float *term_first,
                               const float *constant_first, float *column_sum, float *row_sum);
void tg_exchangeable_pair_row(const float *x, size_t width, size_t c, const float *t1_first, const float *term_first,
                              const float *constant_first, const float *t1_last, const float *term_last,
                              const float *constant_last, float *sum, float *maximum);
