import Foundation
import Runtime

/// Row-major matrix products (through Runtime's `BLAS`, the one BLAS wrapper) and helpers the generator is built from.
enum Matrix {
    /// `C[m×n] = A[m×k]·B[k×n]` (+ `beta·C`), all row-major and contiguous.
    static func multiply(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
                         m: Int, k: Int, n: Int, beta: Float = 0) {
        BLAS.gemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: beta, c: c, ldc: n)
    }

    /// `C[m×n] = A[m×k]·B[n×k]ᵀ`.
    static func multiplyTransposed(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
                                   m: Int, k: Int, n: Int) {
        BLAS.gemm(transposeA: false, transposeB: true, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: k, beta: 0, c: c, ldc: n)
    }

    /// `y[columns] = Σ_r weights[r] · A[r, :]` for a row-major `A[rows × columns]` (a weighted mean of the rows).
    static func meanOfRows(_ a: UnsafePointer<Float>, rows: Int, columns: Int, weights: UnsafePointer<Float>,
                           into y: UnsafeMutablePointer<Float>) {
        BLAS.gemv(transpose: true, m: rows, n: columns, alpha: 1, a: a, lda: columns, x: weights, beta: 0, y: y)
    }

    /// `t / √(mean(t²) + ε)` over all entries (training/generator.py `rms_normalize`): the divisor.
    static func rootMeanSquare(_ values: UnsafeBufferPointer<Float>, epsilon: Float) -> Float {
        var sum: Double = 0
        for v in values { sum += Double(v) * Double(v) }
        return (Float(sum / Double(max(values.count, 1))) + epsilon).squareRoot()
    }
}
