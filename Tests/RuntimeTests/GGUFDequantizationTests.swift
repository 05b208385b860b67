import Foundation
import XCTest

@testable import Runtime

/// Dequantization equals the gguf package's `gguf.quants.dequantize` bit for bit, for every type the runtime reads
/// (fixtures: Tests/Fixtures/make_gguf_fixtures.py, one 3 × 512 tensor per type with its reference floats).
final class GGUFDequantizationTests: XCTestCase {
    static let quants = Fixtures.root.appendingPathComponent("gguf/quants")

    func testEveryReadableTypeDequantizesBitForBitAsTheGGUFPackage() throws {
        let types: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]
        XCTAssertEqual(Set(types), Set(GGMLType.allCases.filter(\.isDequantizable)), "every readable type has a fixture")
        for type in types {
            let file = try GGUFFile(url: Self.quants.appendingPathComponent("\(type).gguf"))
            let tensor = try XCTUnwrap(file.tensor("weight"), "\(type)")
            XCTAssertEqual(tensor.type, type)
            XCTAssertEqual(tensor.shape, [3, 512])
            let reference = try Data(contentsOf: Self.quants.appendingPathComponent("\(type).f32"))
            let expected = reference.withUnsafeBytes { raw in
                (0..<(raw.count / 4)).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
            }
            let found = try file.floatBuffer(tensor).array.map(\.bitPattern)
            XCTAssertEqual(found.count, expected.count, "\(type)")
            let mismatches = zip(found, expected).enumerated().filter { $0.element.0 != $0.element.1 }
            XCTAssertTrue(mismatches.isEmpty, "\(type): \(mismatches.count) elements differ, first at \(mismatches.first.map { "\($0.offset): \(Float(bitPattern: $0.element.0)) vs \(Float(bitPattern: $0.element.1))" } ?? "")")
        }
    }

    /// Large tensors are dequantized in parallel chunks; the split must not change a bit.
    func testChunkedDequantizationEqualsBlockByBlock() throws {
        let file = try GGUFFile(url: Self.quants.appendingPathComponent("Q4_K.gguf"))
        let tensor = try XCTUnwrap(file.tensor("weight"))
        let whole = try file.floatBuffer(tensor).array
        // Repeat the tensor's bytes 200 times: well past one chunk (65,536 elements).
        let repeated: [UInt8] = file.withBytes(of: tensor) { bytes in (0..<200).flatMap { _ in Array(bytes) } }
        let result = FloatBuffer(count: whole.count * 200)
        repeated.withUnsafeBytes { GGUFDequantization.dequantize($0.baseAddress!, type: .q4_K, count: whole.count * 200, into: result.pointer) }
        for copy in [0, 77, 199] {
            XCTAssertEqual(Array(result.array[(copy * whole.count)..<((copy + 1) * whole.count)]).map(\.bitPattern), whole.map(\.bitPattern))
        }
    }
}
