import Foundation
import XCTest

@testable import Runtime

/// Parity with Hugging Face `safetensors` + PyTorch: reads the file that
/// `Tests/Fixtures/safetensors/make_safetensors_fixture.py` wrote and compares with the bit
/// patterns PyTorch produced (reference.json), and checks that narrowing the same float32 source
/// values gives the bits PyTorch stored (round to nearest even, overflow to infinity, subnormals).
final class SafetensorsReferenceTests: XCTestCase {
    private struct Reference: Decodable {
        struct Tensor: Decodable {
            let dtype: String
            let shape: [Int]
            let source_float32_bits: [Int32]?
            let float32_bits: [Int32]?
            let values: [Int]?
        }
        let metadata: [String: String]
        let tensors: [String: Tensor]
    }

    private let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/safetensors")

    private func load() throws -> (SafetensorsFile, Reference) {
        let reference = try JSONDecoder().decode(
            Reference.self, from: Data(contentsOf: fixtures.appendingPathComponent("reference.json")))
        return (try SafetensorsFile(url: fixtures.appendingPathComponent("reference.safetensors")), reference)
    }

    func testPythonWrittenFileDecodesToPyTorchsValues() throws {
        let (file, reference) = try load()
        XCTAssertEqual(file.metadata, reference.metadata)
        XCTAssertEqual(Set(file.tensors.keys), Set(reference.tensors.keys))
        var checkedDTypes = Set<SafetensorsDType>()
        for (name, expected) in reference.tensors {
            let info = try XCTUnwrap(file.tensors[name])
            XCTAssertEqual(info.dtype.rawValue, expected.dtype, name)
            XCTAssertEqual(info.shape, expected.shape, name)
            guard let expectedBits = expected.float32_bits else {
                assertThrows(SafetensorsError.unsupportedDType(file: file.url.path, tensor: name, dtype: info.dtype)) {
                    _ = try file.floats(name)
                }
                continue
            }
            let values = try file.floats(name)
            XCTAssertEqual(values.count, expectedBits.count, name)
            for (value, bits) in zip(values, expectedBits) {
                let expectedValue = Float(bitPattern: UInt32(bitPattern: bits))
                if expectedValue.isNaN {
                    XCTAssertTrue(value.isNaN, name)
                } else {
                    XCTAssertEqual(value.bitPattern, expectedValue.bitPattern, "\(name): \(value) vs \(expectedValue)")
                }
            }
            checkedDTypes.insert(info.dtype)
        }
        XCTAssertEqual(checkedDTypes, [.f32, .f16, .bf16, .f64])
    }

    func testNarrowingMatchesPyTorchBytesForF16AndBF16() throws {
        let (file, reference) = try load()
        for (name, expected) in reference.tensors {
            guard let dtype = SafetensorsDType(rawValue: expected.dtype), dtype == .f16 || dtype == .bf16,
                let sourceBits = expected.source_float32_bits
            else { continue }
            let source = sourceBits.map { Float(bitPattern: UInt32(bitPattern: $0)) }
            let ours = try SafetensorsWriter.encode(
                [(name, expected.shape, source)], metadata: [:], dtype: dtype, file: "memory")
            let ourFile = try TemporaryDirectory()
            defer { ourFile.remove() }
            try ours.write(to: ourFile.file("ours.safetensors"))
            let ourBits = try SafetensorsFile(url: ourFile.file("ours.safetensors")).withRawBytes(name) {
                Array($0.bindMemory(to: UInt16.self))
            }
            let theirBits = try file.withRawBytes(name) { Array($0.bindMemory(to: UInt16.self)) }
            XCTAssertEqual(ourBits.count, source.count)
            for (index, value) in source.enumerated() {
                if value.isNaN {
                    // PyTorch's NaN encoding depends on the code path (0x7FC0 scalar, 0xFFFF
                    // vectorized for bfloat16); any NaN encoding is correct.
                    let decode = dtype == .f16
                        ? HalfPrecisionConversion.float(fromHalfBits:) : HalfPrecisionConversion.float(fromBFloat16Bits:)
                    XCTAssertTrue(decode(ourBits[index]).isNaN && decode(theirBits[index]).isNaN, name)
                } else {
                    XCTAssertEqual(ourBits[index], theirBits[index], "\(name)[\(index)] from \(value)")
                }
            }
        }
    }
}
