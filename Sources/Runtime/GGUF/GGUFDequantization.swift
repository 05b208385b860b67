import Foundation

/// Block dequantization for the GGUF types the runtime reads, equal bit for bit to the gguf package's
/// `gguf.quants.dequantize` (and ggml's `dequantize_row_*`): every product and sum is one float32 operation in the
/// same order as there, with no fused multiply-add (Swift does not contract `a * b + c`).
enum GGUFDequantization {
    /// Dequantizes `count` elements (a whole number of blocks) starting at `source` into `destination`.
    /// Large tensors are split over threads by blocks; the result does not depend on the split.
    static func dequantize(_ source: UnsafeRawPointer, type: GGMLType, count: Int, into destination: UnsafeMutablePointer<Float>) {
        let blocks = count / type.blockSize
        let chunkBlocks = max(1, (1 << 16) / type.blockSize)
        let chunks = (blocks + chunkBlocks - 1) / chunkBlocks
        let run = { (chunk: Int) in
            let first = chunk * chunkBlocks, last = min(blocks, first + chunkBlocks)
            for block in first..<last {
                dequantizeBlock(source + block * type.blockBytes, type: type, into: destination + block * type.blockSize)
            }
        }
        if chunks > 1 {
            DispatchQueue.concurrentPerform(iterations: chunks, execute: run)
        } else if chunks == 1 {
            run(0)
        }
    }

    @inline(__always)
    private static func half(_ block: UnsafeRawPointer, _ offset: Int) -> Float {
        HalfPrecisionConversion.float(fromHalfBits: UInt16(littleEndian: block.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    @inline(__always)
    private static func byte(_ block: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        block.load(fromByteOffset: offset, as: UInt8.self)
    }

    private static func dequantizeBlock(_ block: UnsafeRawPointer, type: GGMLType, into out: UnsafeMutablePointer<Float>) {
        switch type {
        case .f32:
            out[0] = Float(bitPattern: UInt32(littleEndian: block.loadUnaligned(as: UInt32.self)))
        case .f16:
            out[0] = half(block, 0)
        case .bf16:
            out[0] = HalfPrecisionConversion.float(fromBFloat16Bits: UInt16(littleEndian: block.loadUnaligned(as: UInt16.self)))
        case .q8_0:
            // d: f16, then 32 × int8. x = q · d.
            let d = half(block, 0)
            for i in 0..<32 { out[i] = Float(Int8(bitPattern: byte(block, 2 + i))) * d }
        case .q4_0:
            // d: f16, 16 bytes: element i (< 16) is the low nibble of byte i, element i + 16 its high nibble. x = d · (q − 8).
            let d = half(block, 0)
            for i in 0..<16 {
                let q = byte(block, 2 + i)
                out[i] = d * Float(Int(q & 0x0F) - 8)
                out[i + 16] = d * Float(Int(q >> 4) - 8)
            }
        case .q4_1:
            // d, m: f16; nibbles as in Q4_0. x = d · q + m.
            let d = half(block, 0), m = half(block, 2)
            for i in 0..<16 {
                let q = byte(block, 4 + i)
                out[i] = d * Float(q & 0x0F) + m
                out[i + 16] = d * Float(q >> 4) + m
            }
        case .q5_0:
            // d: f16, qh: u32 (bit i is element i's fifth bit), 16 bytes of nibbles. x = d · (q − 16).
            let d = half(block, 0)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            for i in 0..<16 {
                let q = byte(block, 6 + i)
                let low = Int(q & 0x0F) | Int((qh >> UInt32(i)) & 1) << 4
                let high = Int(q >> 4) | Int((qh >> UInt32(i + 16)) & 1) << 4
                out[i] = d * Float(low - 16)
                out[i + 16] = d * Float(high - 16)
            }
        case .q5_1:
            // d, m: f16, qh: u32, nibbles. x = d · q + m.
            let d = half(block, 0), m = half(block, 2)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            for i in 0..<16 {
                let q = byte(block, 8 + i)
                let low = Int(q & 0x0F) | Int((qh >> UInt32(i)) & 1) << 4
                let high = Int(q >> 4) | Int((qh >> UInt32(i + 16)) & 1) << 4
                out[i] = d * Float(low) + m
                out[i + 16] = d * Float(high) + m
            }
        case .q4_K:
            // d, dmin: f16; 12 bytes of 6-bit scales and mins for 8 sub-blocks of 32; 128 bytes of nibbles: sub-block
            // 2j takes the low nibbles of bytes 32j..<32j+32, sub-block 2j+1 their high nibbles. x = (d·sc)·q − dmin·m.
            let d = half(block, 0), dmin = half(block, 2)
            for subBlock in 0..<8 {
                let (scale, minimum) = scaleAndMin(block + 4, subBlock)
                let factor = d * Float(scale), offset = dmin * Float(minimum)
                let bytes = 16 + (subBlock / 2) * 32
                let shift: UInt8 = subBlock % 2 == 0 ? 0 : 4
                for l in 0..<32 {
                    out[subBlock * 32 + l] = factor * Float((byte(block, bytes + l) >> shift) & 0x0F) - offset
                }
            }
        case .q5_K:
            // As Q4_K, with a fifth bit per element: bit j of qh[l] belongs to element l of sub-block j.
            let d = half(block, 0), dmin = half(block, 2)
            for subBlock in 0..<8 {
                let (scale, minimum) = scaleAndMin(block + 4, subBlock)
                let factor = d * Float(scale), offset = dmin * Float(minimum)
                let bytes = 48 + (subBlock / 2) * 32
                let shift: UInt8 = subBlock % 2 == 0 ? 0 : 4
                for l in 0..<32 {
                    let low = (byte(block, bytes + l) >> shift) & 0x0F
                    let high = (byte(block, 16 + l) >> UInt8(subBlock)) & 1
                    out[subBlock * 32 + l] = factor * Float(low | high << 4) - offset
                }
            }
        case .q6_K:
            // 128 bytes ql, 64 bytes qh, 16 int8 scales, d: f16 last. Element e: group g = e/32 (half h = g/4,
            // k = g%4), l = e%32; low 4 bits from ql[64h + 32(k%2) + l] (low nibble for k < 2, high otherwise),
            // high 2 bits from qh[32h + l] >> 2k; x = (d · scale[e/16]) · (q − 32).
            let d = half(block, 208)
            for group in 0..<8 {
                let h = group / 4, k = group % 4
                for l in 0..<32 {
                    let qlByte = byte(block, 64 * h + 32 * (k % 2) + l)
                    let low = k < 2 ? qlByte & 0x0F : qlByte >> 4
                    let high = (byte(block, 128 + 32 * h + l) >> UInt8(2 * k)) & 0x03
                    let e = group * 32 + l
                    let scale = d * Float(Int8(bitPattern: byte(block, 192 + e / 16)))
                    out[e] = scale * Float(Int(low | high << 4) - 32)
                }
            }
        default:
            preconditionFailure("GGUFFile.floatBuffer refuses \(type) before dequantizing")
        }
    }

    /// The 6-bit scale and min of sub-block `j` from Q4_K/Q5_K's 12 packed bytes (ggml's `get_scale_min_k4`).
    @inline(__always)
    private static func scaleAndMin(_ scales: UnsafeRawPointer, _ j: Int) -> (UInt8, UInt8) {
        let s = { (i: Int) in scales.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (s(j) & 63, s(j + 4) & 63) }
        return ((s(j + 4) & 0x0F) | ((s(j - 4) >> 6) << 4), (s(j + 4) >> 4) | ((s(j) >> 6) << 4))
    }
}
