import CKernels
import XCTest

@testable import Runtime

/// The quantized matrix kernels (`tg_rows_times_quantized`) on every path this CPU has, against a reference computed
/// in double precision from the exact dequantized weights and the dequantized 8-bit inputs: the integer block sums
/// are exact on every path, so the paths may differ from the reference only by float rounding of the per-block terms.
final class QuantizedKernelTests: XCTestCase {
    override func tearDown() {
        tg_kernels_limit(2)
        super.tearDown()
    }

    /// Random GGUF rows of `type`: scales of either sign, quants over their whole range.
    static func randomBlocks(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        var bytes: [UInt8] = []
        for _ in 0..<(rows * columns / 32) {
            func half(_ magnitude: Float) -> [UInt8] {
                let value = Float16((Float(generator.next() % 10_000) / 10_000 - 0.5) * 2 * magnitude)
                return [UInt8(value.bitPattern & 0xFF), UInt8(value.bitPattern >> 8)]
            }
            switch type {
            case .q8_0: bytes += half(0.02) + (0..<32).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            case .q4_0: bytes += half(0.05) + (0..<16).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            default: bytes += half(0.05) + half(0.3) + (0..<16).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            }
        }
        return bytes
    }

    static func randomInputs(rows: Int, columns: Int, seed: UInt64) -> [Float] {
        var generator = SplitMix64(seed: seed)
        // Mostly small values with a few large ones, as hidden states have.
        return (0..<(rows * columns)).map { i in
            let u = Float(generator.next() % 1_000_000) / 1_000_000 - 0.5
            return i % 29 == 0 ? u * 40 : u * 2
        }
    }

    /// What the 8-bit input blocks stand for: q · d per element.
    static func dequantizedInputs(_ x: [Float], rows: Int, columns: Int) -> [Float] {
        let blocks = rows * columns / 32
        var raw = [UInt8](repeating: 0, count: blocks * Int(TG_ACTIVATION_BLOCK_BYTES))
        tg_quantize_activations(x, rows, columns, &raw)
        var result = [Float](repeating: 0, count: x.count)
        for block in 0..<blocks {
            let base = block * Int(TG_ACTIVATION_BLOCK_BYTES)
            let d = raw.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: base, as: Float.self) }
            let sum = raw.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: base + 4, as: Float.self) }
            var total: Int32 = 0
            for i in 0..<32 {
                let q = Int8(bitPattern: raw[base + 8 + i])
                total += Int32(q)
                result[block * 32 + i] = Float(q) * d
            }
            XCTAssertEqual(sum, d * Float(total), "block \(block): stored d · Σ q")
        }
        return result
    }

    func testActivationBlocksRoundToTheNearestStep() {
        let columns = 128
        let x = Self.randomInputs(rows: 3, columns: columns, seed: 7)
        let restored = Self.dequantizedInputs(x, rows: 3, columns: columns)
        for block in 0..<(x.count / 32) {
            let values = x[(block * 32)..<(block * 32 + 32)]
            let step = values.map(abs).max()! / 127
            for i in values.indices {
                XCTAssertLessThanOrEqual(abs(restored[i] - x[i]), step / 2 * 1.0001 + 1e-12, "element \(i)")
            }
        }
        // An all-zero block quantizes to zeros (no division by zero).
        XCTAssertEqual(Self.dequantizedInputs([Float](repeating: 0, count: 32), rows: 1, columns: 32), [Float](repeating: 0, count: 32))
    }

    func testEveryPathMatchesTheDequantizedReference() throws {
        let paths = Array(0...Int(tg_quantized_path()))
        XCTAssertFalse(paths.isEmpty)
        for type in [GGMLType.q8_0, .q4_0, .q4_1] {
            let outFeatures = 37, inFeatures = 160
            let blocks = Self.randomBlocks(type, rows: outFeatures, columns: inFeatures, seed: UInt64(type.rawValue))
            var weights = [Float](repeating: 0, count: outFeatures * inFeatures)
            blocks.withUnsafeBytes {
                GGUFDequantization.dequantize($0.baseAddress!, type: type, count: weights.count, into: &weights)
            }
            for rows in 1...Int(TG_MAX_SIDE_BY_SIDE) {
                let x = Self.randomInputs(rows: rows, columns: inFeatures, seed: UInt64(100 + rows))
                let restored = Self.dequantizedInputs(x, rows: rows, columns: inFeatures)
                var activations = [UInt8](repeating: 0, count: rows * inFeatures / 32 * Int(TG_ACTIVATION_BLOCK_BYTES))
                tg_quantize_activations(x, rows, inFeatures, &activations)
                for path in paths {
                    tg_kernels_limit(Int32(path))
                    XCTAssertEqual(Int(tg_quantized_path()), path)
                    // Two calls over adjacent output ranges, as the thread split makes them.
                    var y = [Float](repeating: .nan, count: rows * outFeatures)
                    tg_rows_times_quantized(Int32(type.rawValue), activations, rows, blocks, inFeatures, 0, 20, &y, outFeatures)
                    tg_rows_times_quantized(Int32(type.rawValue), activations, rows, blocks, inFeatures, 20, outFeatures, &y, outFeatures)
                    for r in 0..<rows {
                        for o in 0..<outFeatures {
                            var exact = 0.0, magnitude = 0.0
                            for i in 0..<inFeatures {
                                let term = Double(weights[o * inFeatures + i]) * Double(restored[r * inFeatures + i])
                                exact += term
                                magnitude += abs(term)
                            }
                            XCTAssertEqual(Double(y[r * outFeatures + o]), exact, accuracy: 1e-6 * magnitude + 1e-9,
                                           "\(type) path \(path), row \(r), output \(o)")
                        }
                    }
                }
                tg_kernels_limit(2)
            }
        }
    }

    func testUnsupportedTypesAndRaggedRowsWriteNothing() {
        var y: [Float] = [42]
        let activations = [UInt8](repeating: 0, count: Int(TG_ACTIVATION_BLOCK_BYTES))
        let weights = [UInt8](repeating: 0, count: 64)
        tg_rows_times_quantized(Int32(GGMLType.q4_K.rawValue), activations, 1, weights, 32, 0, 1, &y, 1)
        tg_rows_times_quantized(Int32(GGMLType.q8_0.rawValue), activations, 1, weights, 33, 0, 1, &y, 1)
        XCTAssertEqual(y, [42])
        XCTAssertEqual(tg_quantized_block_bytes(Int32(GGMLType.q4_1.rawValue)), GGMLType.q4_1.blockBytes)
        XCTAssertEqual(tg_quantized_block_bytes(Int32(GGMLType.q4_0.rawValue)), GGMLType.q4_0.blockBytes)
        XCTAssertEqual(tg_quantized_block_bytes(Int32(GGMLType.q8_0.rawValue)), GGMLType.q8_0.blockBytes)
    }

    /// A `WeightMatrix` kept quantized against the same matrix dequantized: the few-row path quantizes the inputs
    /// (as above), the many-row path dequantizes tiles and must equal the float32 product to float rounding.
    func testWeightMatrixPathsAgainstItsDequantizedTwin() {
        let outFeatures = 96, inFeatures = 64
        let bytes = Self.randomBlocks(.q4_1, rows: outFeatures, columns: inFeatures, seed: 3)
        let quantized = bytes.withUnsafeBytes {
            QuantizedBlocks(type: .q4_1, inFeatures: inFeatures, outFeatures: outFeatures, source: $0.baseAddress!,
                            storedRow: { outFeatures - 1 - $0 })
        }
        let matrix = WeightMatrix(quantized: quantized)
        let dense = WeightMatrix(dense: matrix.dequantized(), inFeatures: inFeatures, outFeatures: outFeatures)
        XCTAssertEqual(matrix.storageType, "Q4_1")
        XCTAssertEqual(matrix.byteCount, outFeatures * 2 * 20)
        // Rows were reordered on the way in: row 0 is the source's last.
        var row = [Float](repeating: 0, count: inFeatures)
        matrix.copyRow(0, into: &row)
        var lastSourceRow = [Float](repeating: 0, count: inFeatures)
        bytes.withUnsafeBytes {
            GGUFDequantization.dequantize($0.baseAddress! + (outFeatures - 1) * 40, type: .q4_1, count: inFeatures, into: &lastSourceRow)
        }
        XCTAssertEqual(row, lastSourceRow)

        for rows in [1, 3, 9, 16, 17, 300] {
            let x = Self.randomInputs(rows: rows, columns: inFeatures, seed: UInt64(rows))
            var y = [Float](repeating: 0, count: rows * outFeatures), reference = y
            matrix.multiply(x, rows: rows, into: &y)
            let input = rows <= QuantizedBlocks.mostKernelRows ? Self.dequantizedInputs(x, rows: rows, columns: inFeatures) : x
            dense.multiply(input, rows: rows, into: &reference)
            for i in y.indices { XCTAssertEqual(y[i], reference[i], accuracy: 1e-4 * max(1, abs(reference[i])), "rows \(rows), \(i)") }
        }
    }
}

/// A small deterministic generator for test data.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
