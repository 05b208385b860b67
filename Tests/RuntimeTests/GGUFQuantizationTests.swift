import Foundation
import XCTest

@testable import Runtime

/// Quantization equals the gguf package's `gguf.quants.quantize` byte for byte (fixtures:
/// Tests/Fixtures/make_gguf_fixtures.py: 4 × 512 floats with zero, constant, outlier and rounding-tie blocks).
final class GGUFQuantizationTests: XCTestCase {
    static let quants = Fixtures.root.appendingPathComponent("gguf/quants")

    static func source() throws -> [Float] {
        let data = try Data(contentsOf: quants.appendingPathComponent("quantize-source.f32"))
        return data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    func testQ8_0AndQ4_0BlocksEqualTheGGUFPackagesByteForByte() throws {
        let values = try Self.source()
        XCTAssertEqual(values.count, 4 * 512)
        for type in GGUFQuantization.supportedTypes {
            let expected = [UInt8](try Data(contentsOf: Self.quants.appendingPathComponent("quantize-\(type).bin")))
            let found = try values.withUnsafeBufferPointer { try GGUFQuantization.quantize($0, as: type) }
            XCTAssertEqual(found.count, expected.count, "\(type)")
            let differing = zip(found, expected).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
            XCTAssertTrue(differing.isEmpty, "\(type): \(differing.count) bytes differ, first in block \(differing.first.map { $0 / type.blockBytes } ?? -1)")
        }
    }

    /// A round trip is the dequantization of the quantized blocks: within half a quantization step of each value
    /// (Q4_0: one step, since its grid runs from −8 to +7 steps and the side opposite the block's largest value clips).
    func testRoundTripIsWithinAStepOfEachValue() throws {
        let values = try Self.source()
        for (type, levels, steps) in [(GGMLType.q8_0, Float(127), Float(0.5)), (.q4_0, Float(8), Float(1))] {
            let back = try values.withUnsafeBufferPointer { try GGUFQuantization.roundTrip($0, as: type) }
            for block in 0..<(values.count / 32) {
                let slice = values[(block * 32)..<((block + 1) * 32)]
                let step = (slice.map { abs($0) }.max() ?? 0) / levels
                for i in slice.indices {
                    // f16 rounding of the block scale adds up to 2^-11 of a value on top of half a step.
                    XCTAssertLessThanOrEqual(abs(back[i] - values[i]), step * steps + abs(values[i]) * 0.001 + 1e-6, "\(type) element \(i)")
                }
            }
        }
    }

    func testUnsupportedTypesAndPartialBlocksAreNamed() throws {
        let values = [Float](repeating: 1, count: 48)
        XCTAssertThrowsError(try values.withUnsafeBufferPointer { try GGUFQuantization.quantize($0, as: .q4_0, tensor: "blk.0.attn_q.weight") }) {
            XCTAssertEqual("\($0)", "\(GGUFError.rowNotBlockAligned(file: "quantize", tensor: "blk.0.attn_q.weight", rowLength: 48, type: .q4_0))")
        }
        XCTAssertThrowsError(try values.prefix(32).withUnsafeBufferPointer { try GGUFQuantization.quantize($0, as: .q6_K) }) {
            guard case GGUFError.unsupportedTensorType(_, "values", .q6_K) = $0 else { return XCTFail("\($0)") }
        }
    }
}
