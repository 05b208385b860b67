import Foundation
import XCTest

@testable import Runtime

/// One test per class of malformed file: each must fail on open with its own error case,
/// naming the file and the tensor or field.
final class SafetensorsValidationTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.remove() }

    /// Writes `header` + `data` as bad.safetensors and returns its path.
    private func write(header: String, data: [UInt8] = [], headerLength: UInt64? = nil) throws -> URL {
        let url = directory.file("bad.safetensors")
        try RawSafetensors.bytes(header: header, data: data, headerLength: headerLength).write(to: url)
        return url
    }

    private func entry(_ dtype: String = "F32", shape: String = "[2]", offsets: String = "[0,8]") -> String {
        #"{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":\#(offsets)}"#
    }

    func testFileShorterThanEightBytesIsTruncated() throws {
        let url = directory.file("short.safetensors")
        try Data([1, 0, 0, 0, 0]).write(to: url)
        assertThrows(SafetensorsError.truncated(file: url.path, size: 5)) { _ = try SafetensorsFile(url: url) }
    }

    func testEmptyFileIsTruncated() throws {
        let url = directory.file("empty.safetensors")
        try Data().write(to: url)
        assertThrows(SafetensorsError.truncated(file: url.path, size: 0)) { _ = try SafetensorsFile(url: url) }
    }

    func testMissingFileIsUnreadable() {
        let url = directory.file("absent.safetensors")
        assertThrows(SafetensorsError.unreadable(file: url.path, reason: "No such file or directory")) {
            _ = try SafetensorsFile(url: url)
        }
    }

    func testHeaderLengthBeyondTheFile() throws {
        let url = try write(header: "{}", headerLength: 1000)
        assertThrows(SafetensorsError.headerBeyondFile(file: url.path, headerLength: 1000, fileSize: 10)) {
            _ = try SafetensorsFile(url: url)
        }
    }

    func testAbsurdHeaderLengthIsRefusedBeforeAllocating() throws {
        let url = try write(header: "{}", headerLength: UInt64.max)
        assertThrows(SafetensorsError.headerTooLarge(file: url.path, headerLength: UInt64.max, limit: 100_000_000)) {
            _ = try SafetensorsFile(url: url)
        }
    }

    func testHeaderThatIsNotJSON() throws {
        let url = try write(header: #"{"w": {"dtype": "F32""#)
        XCTAssertThrowsError(try SafetensorsFile(url: url)) { error in
            guard case let .invalidHeaderJSON(file, _) = error as? SafetensorsError else {
                return XCTFail("expected invalidHeaderJSON, got \(error)")
            }
            XCTAssertEqual(file, url.path)
        }
    }

    func testHeaderThatIsNotAnObject() throws {
        let url = try write(header: "[1, 2]")
        assertThrows(SafetensorsError.headerNotObject(file: url.path)) { _ = try SafetensorsFile(url: url) }
    }

    func testEntryThatIsNotAnObject() throws {
        let url = try write(header: #"{"w": [1]}"#)
        assertThrows(SafetensorsError.entryNotObject(file: url.path, tensor: "w")) { _ = try SafetensorsFile(url: url) }
    }

    func testEntryMissingEachRequiredField() throws {
        let entries = [
            "dtype": #"{"shape":[2],"data_offsets":[0,8]}"#,
            "shape": #"{"dtype":"F32","data_offsets":[0,8]}"#,
            "data_offsets": #"{"dtype":"F32","shape":[2]}"#,
        ]
        for (field, entry) in entries {
            let url = try write(header: #"{"w":\#(entry)}"#, data: Array(repeating: 0, count: 8))
            assertThrows(SafetensorsError.missingField(file: url.path, tensor: "w", field: field)) {
                _ = try SafetensorsFile(url: url)
            }
        }
    }

    func testFieldsOfTheWrongType() throws {
        let cases: [(entry: String, field: String, expected: String)] = [
            (#"{"dtype":32,"shape":[2],"data_offsets":[0,8]}"#, "dtype", "a string"),
            (#"{"dtype":"F32","shape":"2","data_offsets":[0,8]}"#, "shape", "an array of integers"),
            (#"{"dtype":"F32","shape":[2],"data_offsets":[0]}"#, "data_offsets", "two integers [begin, end]"),
            (#"{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}"#, "data_offsets", "two integers [begin, end]"),
            (#"{"dtype":"F32","shape":[2],"data_offsets":{"begin":0}}"#, "data_offsets", "two integers [begin, end]"),
        ]
        for (entry, field, expected) in cases {
            let url = try write(header: #"{"w":\#(entry)}"#, data: Array(repeating: 0, count: 8))
            assertThrows(
                SafetensorsError.invalidFieldType(file: url.path, tensor: "w", field: field, expected: expected)
            ) { _ = try SafetensorsFile(url: url) }
        }
    }

    func testUnknownDType() throws {
        let url = try write(header: #"{"w":\#(entry("F128"))}"#, data: Array(repeating: 0, count: 8))
        assertThrows(SafetensorsError.unknownDType(file: url.path, tensor: "w", dtype: "F128")) {
            _ = try SafetensorsFile(url: url)
        }
    }

    func testNegativeShape() throws {
        let url = try write(header: #"{"w":\#(entry(shape: "[-1,-2]"))}"#, data: Array(repeating: 0, count: 8))
        assertThrows(SafetensorsError.invalidShape(file: url.path, tensor: "w", shape: "[-1, -2]")) {
            _ = try SafetensorsFile(url: url)
        }
    }

    func testNonIntegerShape() throws {
        for (shape, text) in [("[2.5]", "[2.5]"), (#"["2"]"#, #"["2"]"#), ("[true]", "[true]")] {
            let url = try write(header: #"{"w":\#(entry(shape: shape))}"#, data: Array(repeating: 0, count: 8))
            assertThrows(SafetensorsError.invalidShape(file: url.path, tensor: "w", shape: text)) {
                _ = try SafetensorsFile(url: url)
            }
        }
    }

    func testShapeWhoseElementCountOverflows() throws {
        let url = try write(header: #"{"w":\#(entry(shape: "[4294967296,4294967296]"))}"#, data: Array(repeating: 0, count: 8))
        assertThrows(SafetensorsError.invalidShape(file: url.path, tensor: "w", shape: "[4294967296, 4294967296]")) {
            _ = try SafetensorsFile(url: url)
        }
    }

    func testOffsetsWithBeginAfterEnd() throws {
        let url = try write(header: #"{"w":\#(entry(offsets: "[8,0]"))}"#, data: Array(repeating: 0, count: 8))
        assertThrows(SafetensorsError.invalidOffsets(file: url.path, tensor: "w", offsets: "[8, 0]")) {
            _ = try SafetensorsFile(url: url)
        }
    }

    func testNegativeOffsets() throws {
        let url = try write(header: #"{"w":\#(entry(offsets: "[-8,0]"))}"#, data: Array(repeating: 0, count: 8))
        assertThrows(SafetensorsError.invalidOffsets(file: url.path, tensor: "w", offsets: "[-8, 0]")) {
            _ = try SafetensorsFile(url: url)
        }
    }

    func testOffsetsBeyondTheDataSection() throws {
        let url = try write(header: #"{"w":\#(entry(offsets: "[4,12]"))}"#, data: Array(repeating: 0, count: 8))
        assertThrows(SafetensorsError.offsetsOutOfRange(file: url.path, tensor: "w", end: 12, dataSize: 8)) {
            _ = try SafetensorsFile(url: url)
        }
    }

    func testByteCountThatDisagreesWithShapeAndDType() throws {
        let url = try write(header: #"{"w":\#(entry("F16", shape: "[2,3]", offsets: "[0,8]"))}"#, data: Array(repeating: 0, count: 8))
        assertThrows(SafetensorsError.byteCountMismatch(file: url.path, tensor: "w", expected: 12, found: 8)) {
            _ = try SafetensorsFile(url: url)
        }
    }

    func testOverlappingTensors() throws {
        let header = #"{"a":\#(entry(offsets: "[0,8]")),"b":\#(entry("F16", offsets: "[6,10]")),"c":\#(entry(offsets: "[10,18]"))}"#
        let url = try write(header: header, data: Array(repeating: 0, count: 18))
        assertThrows(SafetensorsError.overlappingTensors(file: url.path, tensor: "a", other: "b")) {
            _ = try SafetensorsFile(url: url)
        }
    }

    func testMetadataThatIsNotAnObjectOfStrings() throws {
        let url = try write(header: #"{"__metadata__":{"format":"pt","layers":2}}"#)
        assertThrows(SafetensorsError.invalidMetadata(file: url.path, field: "layers")) { _ = try SafetensorsFile(url: url) }
        let other = try write(header: #"{"__metadata__":["pt"]}"#)
        assertThrows(SafetensorsError.invalidMetadata(file: other.path, field: "")) { _ = try SafetensorsFile(url: other) }
    }

    func testReadingANonFloatDTypeAsFloatsIsUnsupported() throws {
        let url = try write(header: #"{"ids":\#(entry("I32"))}"#, data: Array(repeating: 0, count: 8))
        let file = try SafetensorsFile(url: url)
        assertThrows(SafetensorsError.unsupportedDType(file: url.path, tensor: "ids", dtype: .i32)) {
            _ = try file.floatBuffer("ids")
        }
    }

    func testReadingAMissingTensorNamesFileAndTensor() throws {
        let url = directory.file("model.safetensors")
        try SafetensorsWriter.write([("w", [1], [1])], to: url)
        let file = try SafetensorsFile(url: url)
        assertThrows(SafetensorsError.missingTensor(path: url.path, tensor: "v")) { _ = try file.floats("v") }
    }

    func testCorruptZstdFileNamesTheFile() throws {
        let url = directory.file("model.safetensors.zst")
        try Data([0x28, 0xB5, 0x2F, 0xFD, 0x00]).write(to: url)
        assertThrows(ZstdError.truncatedFrame(file: url.path)) { _ = try SafetensorsFile(url: url) }
    }

    // MARK: Writing

    func testWriterRefusesValueCountThatDisagreesWithShape() {
        let url = directory.file("out.safetensors")
        assertThrows(SafetensorsError.valueCountMismatch(file: url.path, tensor: "w", expected: 6, found: 5)) {
            try SafetensorsWriter.write([("w", [2, 3], [1, 2, 3, 4, 5])], to: url)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }

    func testWriterRefusesEmptyReservedAndRepeatedNames() {
        let url = directory.file("out.safetensors")
        for (tensors, name) in [
            ([("", [1], [Float(1)])], ""),
            ([("__metadata__", [1], [1])], "__metadata__"),
            ([("w", [1], [1]), ("w", [1], [2])], "w"),
        ] {
            assertThrows(SafetensorsError.invalidTensorName(file: url.path, tensor: name)) {
                try SafetensorsWriter.write(tensors, to: url)
            }
        }
    }

    func testWriterRefusesNegativeShapesAndNonFloatDTypes() {
        let url = directory.file("out.safetensors")
        assertThrows(SafetensorsError.invalidShape(file: url.path, tensor: "w", shape: "[-1]")) {
            try SafetensorsWriter.write([("w", [-1], [])], to: url)
        }
        assertThrows(SafetensorsError.unsupportedWriteDType(file: url.path, dtype: .f64)) {
            try SafetensorsWriter.write([("w", [1], [1])], dtype: .f64, to: url)
        }
    }

    func testErrorDescriptionsNameFileTensorAndExpectedVersusFound() {
        let error = SafetensorsError.shapeMismatch(file: "/m/model.safetensors", tensor: "lm_head.weight", expected: [4, 2], found: [2, 4])
        XCTAssertEqual(
            error.description, "/m/model.safetensors: tensor 'lm_head.weight': expected shape [4, 2], found [2, 4]")
        XCTAssertEqual(
            SafetensorsError.byteCountMismatch(file: "f", tensor: "t", expected: 12, found: 8).description,
            "f: tensor 't': shape and dtype need 12 bytes, data_offsets span 8")
    }
}
