import Foundation
import XCTest

@testable import Runtime

final class SafetensorsRoundTripTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.remove() }

    /// Values exactly representable in F32, F16 and BF16 (at most 8 significant bits, small exponents),
    /// so every dtype must give them back unchanged.
    private let weight: (name: String, shape: [Int], values: [Float]) = (
        "model.layers.0.self_attn.q_proj.weight", [2, 3], [1, -2.5, 0.125, 96, -0.0, 3.75]
    )
    private let bias: (name: String, shape: [Int], values: [Float]) = ("model.norm.bias", [4], [0.5, -1, 2, 1.0 / 64])
    private let scalar: (name: String, shape: [Int], values: [Float]) = ("scale", [], [4])
    private let empty: (name: String, shape: [Int], values: [Float]) = ("empty", [0, 3], [])

    private func assertRoundTrip(_ dtype: SafetensorsDType, fileName: String) throws {
        let url = directory.file(fileName)
        let metadata = ["format": "pt", "note": "quote \" backslash \\ newline \n é"]
        try SafetensorsWriter.write([weight, bias, scalar, empty], metadata: metadata, dtype: dtype, to: url)

        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(file.metadata, metadata)
        XCTAssertEqual(file.tensorNames, ["empty", "model.layers.0.self_attn.q_proj.weight", "model.norm.bias", "scale"])
        for tensor in [weight, bias, scalar, empty] {
            let info = try XCTUnwrap(file.tensors[tensor.name])
            XCTAssertEqual(info.dtype, dtype)
            XCTAssertEqual(info.shape, tensor.shape)
            XCTAssertEqual(info.elementCount, tensor.values.count)
            XCTAssertEqual(info.byteRange.count, tensor.values.count * dtype.byteSize)
            XCTAssertEqual(try file.floats(tensor.name).map(\.bitPattern), tensor.values.map(\.bitPattern), tensor.name)
        }
    }

    func testF32RoundTripKeepsValuesShapesAndMetadata() throws {
        try assertRoundTrip(.f32, fileName: "model.safetensors")
    }

    func testF16RoundTripKeepsValuesShapesAndMetadata() throws {
        try assertRoundTrip(.f16, fileName: "model.safetensors")
    }

    func testBF16RoundTripKeepsValuesShapesAndMetadata() throws {
        try assertRoundTrip(.bf16, fileName: "model.safetensors")
    }

    func testZstdCompressedRoundTripForEveryWritableDType() throws {
        for dtype in [SafetensorsDType.f32, .f16, .bf16] {
            try assertRoundTrip(dtype, fileName: "model-\(dtype.rawValue).safetensors.zst")
            let compressed = try Data(contentsOf: directory.file("model-\(dtype.rawValue).safetensors.zst"))
            XCTAssertEqual(Array(compressed.prefix(4)), [0x28, 0xB5, 0x2F, 0xFD], "zstd magic number")
        }
    }

    func testWrittenHeaderHasSortedKeysAndIsPaddedToEightBytes() throws {
        let url = directory.file("sorted.safetensors")
        try SafetensorsWriter.write(
            [("b", [1], [2]), ("a", [2], [1, 1]), ("Z", [1], [3])], metadata: ["k": "v"], to: url)
        let contents = try Data(contentsOf: url)
        let headerLength = contents.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0)
        let header = try XCTUnwrap(String(data: contents[8..<(8 + headerLength)], encoding: .utf8))
        XCTAssertEqual(
            header.trimmingCharacters(in: .whitespaces),
            #"{"Z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"# + #""__metadata__":{"k":"v"},"#
                + #""a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"#
                + #""b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"#)
        XCTAssertEqual(contents.count, 8 + headerLength + 16)
    }

    func testWriteReplacesAnExistingFileAndLeavesNoTemporaryFiles() throws {
        let url = directory.file("model.safetensors")
        try SafetensorsWriter.write([("w", [1], [1])], to: url)
        try SafetensorsWriter.write([("w", [2], [5, 6])], to: url)
        XCTAssertEqual(try SafetensorsFile(url: url).floats("w"), [5, 6])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.url.path), ["model.safetensors"])
    }

    func testAlignedF32IsAZeroCopyViewAndWritesNeverReachTheFile() throws {
        let url = directory.file("model.safetensors")
        try SafetensorsWriter.write([weight, bias], to: url)
        let onDiskBefore = try Data(contentsOf: url)

        var file: SafetensorsFile? = try SafetensorsFile(url: url)
        let buffer = try XCTUnwrap(file).floatBuffer(weight.name)
        let viewsMapping = try XCTUnwrap(file).withFileBytes { bytes in
            let start = UnsafeRawPointer(buffer.pointer)
            return bytes.baseAddress! <= start && start + buffer.count * 4 <= bytes.baseAddress! + bytes.count
        }
        XCTAssertTrue(viewsMapping, "aligned F32 must point into the file's mapping")

        buffer.pointer[0] = 42
        // The same process sees its write (one private mapping per file object) …
        XCTAssertEqual(try XCTUnwrap(file).floats(weight.name)[0], 42)
        // … but the file does not, and a fresh open reads the original values.
        XCTAssertEqual(try Data(contentsOf: url), onDiskBefore)
        XCTAssertEqual(try SafetensorsFile(url: url).floats(weight.name), weight.values)

        // The view keeps the mapping alive after the file object is gone.
        file = nil
        XCTAssertEqual(buffer.array, [42] + weight.values.dropFirst())
    }

    func testUnalignedF32IsCopiedWithTheSameValues() throws {
        let values: [Float] = [1.5, -3, .leastNonzeroMagnitude, .infinity]
        // data_offsets start at 2, so the floats are not 4-byte aligned; the header length keeps
        // the data section itself 8-byte aligned.
        var header = #"{"pad":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"w":{"dtype":"F32","shape":[4],"data_offsets":[2,18]}}"#
        header += String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)
        let url = directory.file("unaligned.safetensors")
        try RawSafetensors.bytes(header: header, data: [7, 7] + RawSafetensors.bytes(of: values)).write(to: url)

        let file = try SafetensorsFile(url: url)
        let buffer = try file.floatBuffer("w")
        XCTAssertEqual(buffer.array.map(\.bitPattern), values.map(\.bitPattern))
        let viewsMapping = file.withFileBytes { bytes in
            bytes.baseAddress! <= UnsafeRawPointer(buffer.pointer)
                && UnsafeRawPointer(buffer.pointer) < bytes.baseAddress! + bytes.count
        }
        XCTAssertFalse(viewsMapping, "an unaligned tensor cannot be viewed in place")
    }

    func testUnalignedF16AndF64AreConverted() throws {
        // F16 1.0, -2.0, 2^-24 at odd offset 1; F64 0.1 and -1e300 at offset 7.
        let half: [UInt16] = [0x3C00, 0xC000, 0x0001]
        let doubles: [Double] = [0.1, -1e300]
        var header = #"{"h":{"dtype":"F16","shape":[3],"data_offsets":[1,7]},"#
            + #""d":{"dtype":"F64","shape":[2],"data_offsets":[7,23]}}"#
        header += String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)
        let url = directory.file("odd.safetensors")
        try RawSafetensors.bytes(
            header: header, data: [0] + RawSafetensors.bytes(of: half) + RawSafetensors.bytes(of: doubles)
        ).write(to: url)

        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(try file.floats("h"), [1, -2, 0x1p-24])
        XCTAssertEqual(try file.floats("d"), [Float(0.1), -.infinity])
    }

    func testHeaderMayBePaddedWithSpacesAndMetadataIsOptional() throws {
        let header = #"{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"# + String(repeating: " ", count: 13)
        let url = directory.file("padded.safetensors")
        try RawSafetensors.bytes(header: header, data: RawSafetensors.bytes(of: [UInt16(0x3F80), 0xC0A0])).write(to: url)
        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(file.metadata, [:])
        XCTAssertEqual(try file.floats("w"), [1, -5])
    }

    func testEveryDTypeNameParsesWithItsByteSize() throws {
        let sizes: [String: Int] = [
            "BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4,
            "F32": 4, "F64": 8, "I64": 8, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1,
        ]
        XCTAssertEqual(Set(SafetensorsDType.allCases.map(\.rawValue)), Set(sizes.keys))
        for (name, size) in sizes {
            let header = #"{"t":{"dtype":"\#(name)","shape":[3],"data_offsets":[0,\#(3 * size)]}}"#
            let url = directory.file("\(name).safetensors")
            try RawSafetensors.bytes(header: header, data: Array(repeating: 0, count: 3 * size)).write(to: url)
            let info = try XCTUnwrap(SafetensorsFile(url: url).tensors["t"])
            XCTAssertEqual(info.dtype.rawValue, name)
            XCTAssertEqual(info.dtype.byteSize, size)
        }
    }
}
