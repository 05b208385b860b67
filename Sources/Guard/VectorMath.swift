/// SiLU over whole buffers, eight lanes at a time: the generator evaluates it on every element of N×H×c tensors,
/// where a scalar `expf` per element costs more than all the matrix products together.
enum VectorMath {
    /// `e^x` for 8 lanes: Cephes `expf` (range reduction by ln 2 in two parts, degree-6 polynomial, 2ⁿ through the
    /// exponent bits); relative error ≈ 1e-7, inputs clamped to ±88.3 where float32 `exp` saturates anyway.
    @inline(__always)
    static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let clamped = x.clamped(lowerBound: SIMD8(repeating: -88.3), upperBound: SIMD8(repeating: 88.3))
        let n = (clamped * 1.442_695_04).rounded(.toNearestOrEven)
        var r = clamped - n * 0.693_359_375
        r = r + n * 2.121_944_4e-4
        var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        let y = p * r * r + r + 1
        // 2ⁿ in two halves so that n = ±128 (reachable after clamping) stays representable.
        let whole = SIMD8<Int32>(n)
        let half = whole &>> 1
        let rest = whole &- half
        let scaleA = unsafeBitCast((half &+ 127) &<< 23, to: SIMD8<Float>.self)
        let scaleB = unsafeBitCast((rest &+ 127) &<< 23, to: SIMD8<Float>.self)
        return y * scaleA * scaleB
    }

    /// `z ← z / (1 + e^(−z))` in place.
    static func siluInPlace(_ z: UnsafeMutableBufferPointer<Float>) {
        guard let base = z.baseAddress else { return }
        let count = z.count, lanes = 8
        var i = 0
        let raw = UnsafeMutableRawPointer(base)
        while i + lanes <= count {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            let result = v / (1 + exp(-v))
            raw.storeBytes(of: result, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += lanes
        }
        if i < count {
            var tail = SIMD8<Float>(repeating: 0)
            for k in 0..<(count - i) { tail[k] = base[i + k] }
            let result = tail / (1 + exp(-tail))
            for k in 0..<(count - i) { base[i + k] = result[k] }
        }
    }
}
