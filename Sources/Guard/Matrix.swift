import COpenBLAS
import Foundation

/// Row-major matrix products and elementwise helpers the generator is built from.
enum Matrix {
    /// `C[m×n] = A[m×k]·B[k×n]` (+ `beta·C`), all row-major and contiguous.
    static func multiply(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
                         m: Int, k: Int, n: Int, beta: Float = 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                    a, Int32(k), b, Int32(n), beta, c, Int32(n))
    }

    /// `C[m×n] = A[m×k]·B[n×k]ᵀ`.
    static func multiplyTransposed(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
                                   m: Int, k: Int, n: Int) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1,
                    a, Int32(k), b, Int32(k), 0, c, Int32(n))
    }

    /// `y[columns] = Σ_r weights[r] · A[r, :]` for a row-major `A[rows × columns]` (a weighted mean of the rows).
    static func meanOfRows(_ a: UnsafePointer<Float>, rows: Int, columns: Int, weights: UnsafePointer<Float>,
                           into y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(rows), Int32(columns), 1, a, Int32(columns), weights, 1, 0, y, 1)
    }

    /// `t / √(mean(t²) + ε)` over all entries (training/generator.py `rms_normalize`): the divisor.
    static func rootMeanSquare(_ values: UnsafeBufferPointer<Float>, epsilon: Float) -> Float {
        var sum: Double = 0
        for v in values { sum += Double(v) * Double(v) }
        return (Float(sum / Double(max(values.count, 1))) + epsilon).squareRoot()
    }
}
