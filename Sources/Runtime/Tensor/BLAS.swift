import COpenBLAS

/// Thin wrappers over the few BLAS routines the forward pass needs. Matrices are row-major.
public enum BLAS {
    /// OpenBLAS keeps one process-wide pool; set it once at the program's edge.
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// `y[rows×out] = x[rows×in] · Wᵀ` (+ `beta·y`), with `W` stored as Hugging Face does: `[out, in]`.
    /// One row takes the matrix–vector path, which is what decoding spends its time in.
    @inline(__always)
    static func linear(_ x: UnsafePointer<Float>, rows: Int, weight: UnsafePointer<Float>, inFeatures: Int, outFeatures: Int,
                       into y: UnsafeMutablePointer<Float>, alpha: Float = 1, beta: Float = 0) {
        if rows == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(outFeatures), Int32(inFeatures), alpha,
                        weight, Int32(inFeatures), x, 1, beta, y, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outFeatures), Int32(inFeatures), alpha,
                        x, Int32(inFeatures), weight, Int32(inFeatures), beta, y, Int32(outFeatures))
        }
    }

    /// General `C = alpha·op(A)·op(B) + beta·C` with explicit leading dimensions.
    @inline(__always)
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `y = alpha·op(A)·x + beta·y` for a row-major `A[m×n]`.
    @inline(__always)
    static func gemv(transpose: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                     x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }
}
