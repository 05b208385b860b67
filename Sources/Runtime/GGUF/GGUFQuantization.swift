import Foundation

/// Block quantization to the GGUF types llama.cpp users run most (Q8_0, Q4_0), equal byte for byte to the gguf
/// package's `gguf.quants.quantize` (ggml's reference `quantize_row_*_ref`): every operation is one float32 operation
/// in the same order as there.
public enum GGUFQuantization {
    /// The types `quantize` writes.
    public static let supportedTypes: [GGMLType] = [.q8_0, .q4_0]

    /// The blocks of `values` (a whole number of blocks) in `type`'s layout; `tensor` names them in errors.
    public static func quantize(_ values: UnsafeBufferPointer<Float>, as type: GGMLType, tensor: String = "values") throws -> [UInt8] {
        guard supportedTypes.contains(type) else { throw GGUFError.unsupportedTensorType(file: "quantize", tensor: tensor, type: type) }
        guard values.count % type.blockSize == 0 else {
            throw GGUFError.rowNotBlockAligned(file: "quantize", tensor: tensor, rowLength: values.count, type: type)
        }
        let blocks = values.count / type.blockSize
        var out = [UInt8](repeating: 0, count: blocks * type.blockBytes)
        out.withUnsafeMutableBytes { raw in
            for block in 0..<blocks {
                let source = UnsafeBufferPointer(rebasing: values[(block * type.blockSize)..<((block + 1) * type.blockSize)])
                let destination = raw.baseAddress! + block * type.blockBytes
                switch type {
                case .q8_0: quantizeQ8_0(source, into: destination)
                default: quantizeQ4_0(source, into: destination)
                }
            }
        }
        return out
    }

    /// `values` quantized to `type` and read back: what a model stored in that type computes with.
    public static func roundTrip(_ values: UnsafeBufferPointer<Float>, as type: GGMLType, tensor: String = "values") throws -> [Float] {
        let blocks = try quantize(values, as: type, tensor: tensor)
        var out = [Float](repeating: 0, count: values.count)
        blocks.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { GGUFDequantization.dequantize(raw.baseAddress!, type: type, count: values.count, into: $0.baseAddress!) }
        }
        return out
    }

    private static func storeHalf(_ value: Float, at pointer: UnsafeMutableRawPointer) {
        pointer.storeBytes(of: HalfPrecisionConversion.halfBits(from: value).littleEndian, as: UInt16.self)
    }

    /// d = max|x| / 127 (float32), q = round-half-away(x · (1/d)); d stored as f16.
    private static func quantizeQ8_0(_ x: UnsafeBufferPointer<Float>, into block: UnsafeMutableRawPointer) {
        let d = x.reduce(Float(0)) { max($0, abs($1)) } / 127
        let inverse: Float = d == 0 ? 0 : 1 / d
        storeHalf(d, at: block)
        for i in 0..<32 {
            let q = (x[i] * inverse).rounded(.toNearestOrAwayFromZero)
            block.storeBytes(of: UInt8(bitPattern: Int8(q)), toByteOffset: 2 + i, as: UInt8.self)
        }
    }

    /// d = (the element of largest magnitude, signed) / −8, q = min(15, trunc(x · (1/d) + 8.5)); element i (< 16) in
    /// the low nibble of byte i, element i + 16 in its high nibble; d stored as f16.
    private static func quantizeQ4_0(_ x: UnsafeBufferPointer<Float>, into block: UnsafeMutableRawPointer) {
        var largest: Float = 0
        for value in x where abs(value) > abs(largest) { largest = value }
        let d = largest / -8
        let inverse: Float = d == 0 ? 0 : 1 / d
        storeHalf(d, at: block)
        func nibble(_ value: Float) -> UInt8 { UInt8(min(15, max(0, (value * inverse + 8.5).rounded(.towardZero)))) }
        for i in 0..<16 {
            block.storeBytes(of: nibble(x[i]) | (nibble(x[i + 16]) << 4), toByteOffset: 2 + i, as: UInt8.self)
        }
    }
}
