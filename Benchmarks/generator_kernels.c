// Per-element cost of the TeleLoRA generator's fused row kernels (Sources/CKernels) on each vector path this CPU has,
// for a down_proj-sized input (N = 128 rows, H = 2048 neurons, c = 32 channels), single-threaded, best of 7.
// Prints one JSON line per path with a hash of the outputs, so paths and builds can be checked for equal bits.
//
//   Benchmarks/generator_kernels.sh   (compiles this against the kernels, optionally also against a REFERENCE commit's)
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "CKernels.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float uniform(uint64_t *state, float scale) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((float)(*state >> 40) / (float)(1 << 24) - 0.5f) * scale;
}

static uint64_t fnv1a(uint64_t hash, const float *values, size_t count) {
    const unsigned char *bytes = (const unsigned char *)values;
    for (size_t i = 0; i < count * sizeof(float); i++) hash = (hash ^ bytes[i]) * 1099511628211ULL;
    return hash;
}

int main(void) {
    enum { N = 128, H = 2048, C = 32 };
    uint64_t seed = 1;
    float *x = malloc(sizeof(float) * N * H), *term = malloc(sizeof(float) * H * C), *term_last = malloc(sizeof(float) * H * C);
    float t1[C], constant[C], constant_last[C], t1_last[C * C], row_sum[C];
    for (size_t i = 0; i < (size_t)N * H; i++) x[i] = uniform(&seed, 4);
    for (size_t i = 0; i < (size_t)H * C; i++) term[i] = uniform(&seed, 1), term_last[i] = uniform(&seed, 1);
    for (int i = 0; i < C; i++) t1[i] = uniform(&seed, 1), constant[i] = 0.1f, constant_last[i] = -0.1f;
    for (int i = 0; i < C * C; i++) t1_last[i] = uniform(&seed, 0.3f);
    float *column_sum = malloc(sizeof(float) * H * C), *sum = malloc(sizeof(float) * H * C), *maximum = malloc(sizeof(float) * H * C);
    const char *names[] = {"scalar", "avx2_fma", "avx512"};
    for (int level = 0; level <= 2; level++) {
        tg_kernels_limit(level);
        if (tg_kernels_vectorized() != level) continue;  // the CPU lacks this path
        double first = 1e9, pair = 1e9;
        for (int repeat = 0; repeat < 7; repeat++) {
            for (size_t i = 0; i < (size_t)H * C; i++) column_sum[i] = 0, sum[i] = 0, maximum[i] = -1e30f;
            for (int k = 0; k < C; k++) row_sum[k] = 0;
            double start = now();
            for (int n = 0; n < N; n++) tg_exchangeable_first_row(x + (size_t)n * H, H, C, t1, term, constant, column_sum, row_sum);
            double middle = now();
            for (int n = 0; n < N; n++)
                tg_exchangeable_pair_row(x + (size_t)n * H, H, C, t1, term, constant, t1_last, term_last, constant_last, sum, maximum);
            double end = now();
            if (middle - start < first) first = middle - start;
            if (end - middle < pair) pair = end - middle;
        }
        uint64_t hash = fnv1a(fnv1a(fnv1a(1469598103934665603ULL, column_sum, (size_t)H * C), sum, (size_t)H * C), maximum, (size_t)H * C);
        printf("{\"path\": \"%s\", \"first_ns_per_element\": %.2f, \"pair_ns_per_element\": %.2f, \"outputs_fnv1a\": \"%016llx\"}\n",
               names[level], first / (N * H) * 1e9, pair / (N * H) * 1e9, (unsigned long long)hash);
    }
    return 0;
}
