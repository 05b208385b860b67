/// Conversions between `Float` and the 16-bit float formats stored in safetensors files.
///
/// Written with integer bit operations rather than `Float16`, which Swift lacks on macOS x86_64.
/// Widening is exact for every bit pattern; narrowing rounds to nearest, ties to even, as
/// PyTorch's `.half()` and `.bfloat16()` do, so files we write match files PyTorch writes.
enum HalfPrecisionConversion {
    /// IEEE 754 binary16 → binary32, exact (subnormals, infinities and NaN payloads included).
    /// After F. Giesen, "half_to_float_fast5": shift exponent and mantissa into place, rebias,
    /// then patch up the two special exponents.
    @inline(__always)
    static func float(fromHalfBits half: UInt16) -> Float {
        let exponentMask: UInt32 = 0x7C00 << 13
        var bits = (UInt32(half) & 0x7FFF) << 13
        let exponent = bits & exponentMask
        bits &+= (127 - 15) << 23
        if exponent == exponentMask {
            // Infinity or NaN: move the exponent to all ones.
            bits &+= (128 - 16) << 23
        } else if exponent == 0 {
            // Zero or subnormal: value = mantissa · 2^-24. Adding one to the exponent makes the
            // bits 2^-14 · (1 + m/1024); subtracting 2^-14 (exact) leaves m · 2^-24.
            bits &+= 1 << 23
            bits = (Float(bitPattern: bits) - Float(bitPattern: 113 << 23)).bitPattern
        }
        return Float(bitPattern: bits | (UInt32(half) & 0x8000) << 16)
    }

    /// bfloat16 is the top half of a binary32, so widening is a shift.
    @inline(__always)
    static func float(fromBFloat16Bits bfloat: UInt16) -> Float {
        Float(bitPattern: UInt32(bfloat) << 16)
    }

    /// binary32 → binary16, round to nearest even; overflow gives infinity, NaN gives a quiet NaN
    /// (0x7E00 with the sign). After F. Giesen, "float_to_half_fast3_rtne".
    @inline(__always)
    static func halfBits(from value: Float) -> UInt16 {
        var bits = value.bitPattern
        let sign = bits & 0x8000_0000
        bits ^= sign
        let result: UInt32
        if bits >= (127 + 16) << 23 {
            // At least 2^16 (rounds to infinity), infinity, or NaN.
            result = bits > 0x7F80_0000 ? 0x7E00 : 0x7C00
        } else if bits < (127 - 14) << 23 {
            // Below 2^-14: the result is subnormal or zero. Adding 0.5 aligns the mantissa so the
            // FPU's own round-to-nearest-even does the rounding; the low bits are then the result.
            let denormalMagic: UInt32 = ((127 - 15) + (23 - 10) + 1) << 23
            let shifted = Float(bitPattern: bits) + Float(bitPattern: denormalMagic)
            result = shifted.bitPattern &- denormalMagic
        } else {
            let mantissaOdd = (bits >> 13) & 1
            // Rebias the exponent and add just under a half ulp; the odd bit turns ties to even.
            bits &+= ((15 &- 127) << 23) &+ 0xFFF
            bits &+= mantissaOdd
            result = bits >> 13
        }
        return UInt16(truncatingIfNeeded: result | sign >> 16)
    }

    /// binary32 → bfloat16, round to nearest even; NaN becomes 0x7FC0 as in PyTorch's
    /// `c10::BFloat16` (`round_to_nearest_even`).
    @inline(__always)
    static func bfloat16Bits(from value: Float) -> UInt16 {
        if value.isNaN { return 0x7FC0 }
        let bits = value.bitPattern
        let roundingBias = 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
    }

    // MARK: Bulk conversions (the loops the loader runs over whole tensors)

    static func widenHalf(_ source: UnsafeBufferPointer<UInt16>, into destination: UnsafeMutablePointer<Float>) {
        for index in 0..<source.count { destination[index] = float(fromHalfBits: source[index]) }
    }

    static func widenBFloat16(_ source: UnsafeBufferPointer<UInt16>, into destination: UnsafeMutablePointer<Float>) {
        for index in 0..<source.count { destination[index] = float(fromBFloat16Bits: source[index]) }
    }
}
