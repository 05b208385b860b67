#ifndef TELEGUARD_CKERNELS_DISPATCH_H
#define TELEGUARD_CKERNELS_DISPATCH_H

/// 0 scalar, 1 AVX2+FMA, 2 AVX-512F: what the CPU has, capped by `tg_kernels_limit`. Shared by the kernel files.
int tg_vector_path(void);

#endif
