import CKernels
import COpenBLAS
import Dispatch

/// Thin wrappers over the few BLAS routines the forward pass needs. Matrices are row-major.
public enum BLAS {
    /// OpenBLAS keeps one process-wide pool; set it once at the program's edge.
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// `y[rows×out] = x[rows×in] · Wᵀ` (+ `beta·y`), with `W` stored as Hugging Face does: `[out, in]`.
    /// One row (decoding) and a few rows (sequences decoded side by side) read each weight row once for all of them
    /// (`tg_rows_times_weight`, split over the thread pool's size): OpenBLAS's sgemm packs the weights first and was
    /// slower for a few rows than one matrix–vector product per row, and its sgemv decoded SmolLM2 at 12.9–13.3 tokens/s
    /// where this kernel gives 21.7–23.7 (AMD EPYC, AVX-512 kernels, 2 threads, a busy machine; `teleguard bench`).
    @inline(__always)
    static func linear(_ x: UnsafePointer<Float>, rows: Int, weight: UnsafePointer<Float>, inFeatures: Int, outFeatures: Int,
                       into y: UnsafeMutablePointer<Float>, alpha: Float = 1, beta: Float = 0) {
        if rows >= 1 && rows <= Int(TG_MAX_SIDE_BY_SIDE) && alpha == 1 && beta == 0 {
            sideBySide(x, rows: rows, weight: weight, inFeatures: inFeatures, outFeatures: outFeatures, into: y)
        } else if rows == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(outFeatures), Int32(inFeatures), alpha,
                        weight, Int32(inFeatures), x, 1, beta, y, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outFeatures), Int32(inFeatures), alpha,
                        x, Int32(inFeatures), weight, Int32(inFeatures), beta, y, Int32(outFeatures))
        }
    }

    private static func sideBySide(_ x: UnsafePointer<Float>, rows: Int, weight: UnsafePointer<Float>, inFeatures: Int,
                                   outFeatures: Int, into y: UnsafeMutablePointer<Float>) {
        tg_rows_times_matrix_parallel(TG_F32, x, rows, weight, inFeatures, outFeatures, y,
                                      decodingParts(inFeatures: inFeatures, outFeatures: outFeatures))
    }

    /// How many threads share a decoding product of an `outFeatures × inFeatures` matrix: one below ~256k weights
    /// (a second thread costs more than it saves), else the thread count, at least 64 outputs each.
    static func decodingParts(inFeatures: Int, outFeatures: Int) -> Int {
        inFeatures * outFeatures < 1 << 18 ? 1 : min(threadCount, max(1, outFeatures / 64))
    }

    /// General `C = alpha·op(A)·op(B) + beta·C` with explicit leading dimensions.
    @inline(__always)
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `y = alpha·op(A)·x + beta·y` for a row-major `A[m×n]`.
    @inline(__always)
    public static func gemv(transpose: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                     x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }
}
