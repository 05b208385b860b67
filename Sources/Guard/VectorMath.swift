import CKernels

/// SiLU over whole buffers: the generator evaluates it on every element of N×H×c tensors, where libm's `expf` per
/// element costs more than all the matrix products together. `siluInPlace` and `siluAccumulate` run the C kernels
/// (8-wide AVX2+FMA where the CPU has it); `exp` below is the same arithmetic in Swift, the reference they are tested
/// against.
enum VectorMath {
    /// `e^x`: Cephes `expf` (range reduction by ln 2 in two parts, degree-6 polynomial, 2ⁿ through the exponent
    /// bits); relative error ≈ 1e-7, input clamped to ±87.3 where float32 `exp` leaves the normal range anyway.
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        let clamped = min(max(x, -87.3), 87.3)
        // Round to nearest by adding and subtracting 1.5·2²³ (plain arithmetic, so the loop vectorises; `rounded()`
        // becomes a call to rintf per element). While 1.5·2²³ is added, n sits in the low mantissa bits.
        let shifter: Float = 12_582_912
        let biased = clamped * 1.442_695_04 + shifter
        let n = biased - shifter
        var r = clamped - n * 0.693_359_375
        r = r + n * 2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        let y = p * r * r + r + 1
        // 2ⁿ from those bits by integer arithmetic: `Int32(n)` would check its range per element, and those checks
        // keep the loops around it from vectorising (4× slower).
        let scale = Float(bitPattern: (biased.bitPattern &- shifter.bitPattern &+ 127) &<< 23)
        return y * scale
    }

    /// `z ← z / (1 + e^(−z))` in place.
    static func siluInPlace(_ z: UnsafeMutableBufferPointer<Float>) {
        guard let base = z.baseAddress else { return }
        tg_silu_inplace(base, z.count)
    }

    /// SiLU in place, then `sum += z` and `maximum = max(maximum, z)` elementwise (one pass over the row).
    static func siluAccumulate(_ z: UnsafeMutablePointer<Float>, count: Int, sum: UnsafeMutablePointer<Float>,
                               maximum: UnsafeMutablePointer<Float>) {
        tg_silu_accumulate(z, count, sum, maximum)
    }

    /// The scalar reference: `z / (1 + exp(−z))` with `exp` above.
    static func silu(_ z: Float) -> Float { z / (1 + exp(-z)) }

    /// The kernels in use: 2 AVX-512, 1 AVX2+FMA, 0 scalar.
    static var kernelLevel: Int { Int(tg_kernels_vectorized()) }

    /// `kernelLevel` by name, as reports give it.
    public static var kernelName: String { ["scalar", "avx2_fma", "avx512"][kernelLevel] }

    /// Runs `body` with the kernels limited to `level` and lower (tests compare the paths).
    static func withKernelLevel<T>(atMost level: Int, _ body: () throws -> T) rethrows -> T {
        tg_kernels_limit(Int32(level))
        defer { tg_kernels_limit(2) }
        return try body()
    }
}
