import Foundation
import XCTest

@testable import Runtime

/// One test per class of malformed GGUF file (the classes of llama.cpp's GGUF advisories): each fails on open with
/// its own named error, before anything is allocated for the bad count or size, and never traps.
final class GGUFValidationTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.remove() }

    /// Two small F32 tensors and a little metadata: a valid file the tests then break.
    private func valid() -> RawGGUF {
        var raw = RawGGUF()
        raw.add("general.architecture", .string("llama"))
        raw.add("general.alignment", .u32(32))
        raw.add("test.list", .array(5, [.i32(-1), .i32(7)]))
        raw.addF32("a", [4, 2], (0..<8).map(Float.init))
        raw.addF32("b", [3], [1.5, -2, 0.25])
        return raw
    }

    private func write(_ raw: RawGGUF, _ name: String = "bad.gguf") throws -> URL {
        let url = directory.file(name)
        try raw.write(to: url)
        return url
    }

    private func writeBytes(_ bytes: [UInt8], _ name: String = "bad.gguf") throws -> URL {
        let url = directory.file(name)
        try Data(bytes).write(to: url)
        return url
    }

    func testValidFileReadsMetadataTensorsAndData() throws {
        let file = try GGUFFile(url: try write(valid(), "good.gguf"))
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.metadataKeys, ["general.architecture", "general.alignment", "test.list"])
        XCTAssertEqual(file.metadata["general.architecture"], .string("llama"))
        XCTAssertEqual(file.metadata["test.list"], .array(elementType: 5, [.int32(-1), .int32(7)]))
        XCTAssertEqual(file.tensors.map(\.name), ["a", "b"])
        XCTAssertEqual(file.tensor("a")?.shape, [2, 4])
        XCTAssertEqual(file.tensor("b")?.offset, 32)
        XCTAssertEqual(try file.floatBuffer(file.tensor("a")!).array, (0..<8).map(Float.init))
        XCTAssertEqual(try file.floatBuffer(file.tensor("b")!).array, [1.5, -2, 0.25])
    }

    func testVersionTwoIsRead() throws {
        var raw = valid()
        raw.version = 2
        XCTAssertEqual(try GGUFFile(url: try write(raw)).version, 2)
    }

    func testWrongMagicIsNotGGUF() throws {
        var raw = valid()
        raw.magic = Array("GGML".utf8)
        let url = try write(raw)
        assertThrows(GGUFError.notGGUF(file: url.path)) { _ = try GGUFFile(url: url) }
    }

    func testVersionsOtherThanTwoAndThreeAreRefused() throws {
        for version: UInt32 in [1, 4, 0x0300_0000] {
            var raw = valid()
            raw.version = version
            let url = try write(raw)
            assertThrows(GGUFError.unsupportedVersion(file: url.path, version: version)) { _ = try GGUFFile(url: url) }
        }
        XCTAssertTrue(GGUFError.unsupportedVersion(file: "f", version: 0x0300_0000).description.contains("big-endian"))
    }

    func testAbsurdTensorCountIsRefusedBeforeAllocating() throws {
        var raw = valid()
        raw.tensorCount = .max
        let url = try write(raw)
        XCTAssertThrowsError(try GGUFFile(url: url)) { error in
            guard case let GGUFError.countTooLarge(file, field, count, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual([file, field], [url.path, "n_tensors (tensor count)"])
            XCTAssertEqual(count, .max)
        }
    }

    func testAbsurdKeyValueCountIsRefusedBeforeAllocating() throws {
        var raw = valid()
        raw.keyValueCount = 1 << 62
        let url = try write(raw)
        XCTAssertThrowsError(try GGUFFile(url: url)) { error in
            guard case let GGUFError.countTooLarge(_, field, count, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(field, "n_kv (metadata count)")
            XCTAssertEqual(count, 1 << 62)
        }
    }

    func testStringLengthPastTheEndIsRefused() throws {
        var raw = valid()
        raw.metadata[0].value = RawGGUF.Value(type: 8, payload: le(UInt64.max - 3) + Array("llama".utf8))
        let url = try write(raw)
        XCTAssertThrowsError(try GGUFFile(url: url)) { error in
            guard case let GGUFError.stringPastEnd(file, section, length, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual([file, section], [url.path, "metadata 'general.architecture'"])
            XCTAssertEqual(length, .max - 3)
        }
    }

    func testArrayLengthPastTheEndIsRefused() throws {
        var raw = valid()
        raw.metadata[2].value = .array(5, [.i32(1)], count: 1 << 40)
        let url = try write(raw)
        XCTAssertThrowsError(try GGUFFile(url: url)) { error in
            guard case let GGUFError.countTooLarge(_, field, count, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(field, "metadata 'test.list' array length")
            XCTAssertEqual(count, 1 << 40)
        }
    }

    func testArraysNestedTooDeeplyAreRefused() throws {
        var raw = valid()
        var value = RawGGUF.Value.i32(1)
        for _ in 0...GGUFFile.maximumArrayDepth { value = .array(value.type, [value]) }
        raw.add("test.deep", value)
        let url = try write(raw)
        assertThrows(GGUFError.nestingTooDeep(file: url.path, key: "test.deep", limit: GGUFFile.maximumArrayDepth)) {
            _ = try GGUFFile(url: url)
        }
    }

    func testUnknownValueTypeIsRefused() throws {
        var raw = valid()
        raw.metadata[2].value = RawGGUF.Value(type: 13, payload: [0, 0, 0, 0])
        let url = try write(raw)
        assertThrows(GGUFError.unknownValueType(file: url.path, key: "test.list", type: 13)) { _ = try GGUFFile(url: url) }
    }

    func testInvalidUTF8InAKeyIsRefused() throws {
        var raw = valid()
        raw.metadata[2].key = [0x74, 0xC3, 0x28]
        let url = try write(raw)
        assertThrows(GGUFError.invalidUTF8(file: url.path, section: "metadata key 2")) { _ = try GGUFFile(url: url) }
    }

    func testDuplicateKeyIsRefused() throws {
        var raw = valid()
        raw.add("general.architecture", .string("qwen2"))
        let url = try write(raw)
        assertThrows(GGUFError.duplicateKey(file: url.path, key: "general.architecture")) { _ = try GGUFFile(url: url) }
    }

    func testBoolOtherThanZeroOrOneIsRefused() throws {
        var raw = valid()
        raw.add("test.flag", RawGGUF.Value(type: 7, payload: [2]))
        let url = try write(raw)
        assertThrows(GGUFError.invalidValue(file: url.path, key: "test.flag", detail: "bool byte 2 is neither 0 nor 1")) {
            _ = try GGUFFile(url: url)
        }
    }

    func testAlignmentZeroNotAPowerOfTwoOrNotU32IsRefused() throws {
        let cases: [(RawGGUF.Value, String)] = [
            (.u32(0), "is 0, not a power of two"), (.u32(48), "is 48, not a power of two"),
            (.i32(32), "should be a u32, found i32"),
        ]
        for (value, detail) in cases {
            var raw = valid()
            raw.metadata[1].value = value
            let url = try write(raw)
            assertThrows(GGUFError.invalidAlignment(file: url.path, detail: detail)) { _ = try GGUFFile(url: url) }
        }
    }

    func testDuplicateTensorNameIsRefused() throws {
        var raw = valid()
        raw.addF32("a", [2], [1, 2])
        let url = try write(raw)
        assertThrows(GGUFError.duplicateTensor(file: url.path, tensor: "a")) { _ = try GGUFFile(url: url) }
    }

    func testMoreThanFourDimensionsAreRefused() throws {
        var raw = valid()
        raw.tensors[1].dimensions = [1, 1, 3, 1, 1]
        let url = try write(raw)
        assertThrows(GGUFError.tooManyDimensions(file: url.path, tensor: "b", count: 5, limit: 4)) { _ = try GGUFFile(url: url) }
    }

    func testZeroOrNegativeDimensionIsRefused() throws {
        for dimensions: [UInt64] in [[0], [3, 0], [UInt64(Int64.max) + 1], [.max]] {
            var raw = valid()
            raw.tensors[1].dimensions = dimensions
            let url = try write(raw)
            assertThrows(GGUFError.invalidDimension(file: url.path, tensor: "b", dimensions: dimensions)) { _ = try GGUFFile(url: url) }
        }
    }

    func testDimensionsWhoseProductOverflowsAreRefused() throws {
        for dimensions: [UInt64] in [[1 << 32, 1 << 32], [1 << 20, 1 << 20, 1 << 20, 1 << 20], [UInt64(Int64.max), 2]] {
            var raw = valid()
            raw.tensors[1].dimensions = dimensions
            let url = try write(raw)
            assertThrows(GGUFError.sizeOverflow(file: url.path, tensor: "b", dimensions: dimensions)) { _ = try GGUFFile(url: url) }
        }
        // Elements fit, bytes do not: 2^61 F32 elements are 2^63 bytes.
        var raw = valid()
        raw.tensors[1].dimensions = [1 << 61]
        let url = try write(raw)
        assertThrows(GGUFError.sizeOverflow(file: url.path, tensor: "b", dimensions: [1 << 61])) { _ = try GGUFFile(url: url) }
    }

    func testUnknownGGMLTypeIsRefused() throws {
        var raw = valid()
        raw.tensors[1].type = 31
        let url = try write(raw)
        assertThrows(GGUFError.unknownTensorType(file: url.path, tensor: "b", type: 31)) { _ = try GGUFFile(url: url) }
    }

    func testRowThatIsNotWholeBlocksIsRefused() throws {
        var raw = valid()
        raw.tensors[1].type = GGMLType.q8_0.rawValue
        raw.tensors[1].dimensions = [48]
        let url = try write(raw)
        assertThrows(GGUFError.rowNotBlockAligned(file: url.path, tensor: "b", rowLength: 48, type: .q8_0)) { _ = try GGUFFile(url: url) }
    }

    func testUnalignedOffsetIsRefused() throws {
        var raw = valid()
        raw.tensors[1].offset = 36
        let url = try write(raw)
        assertThrows(GGUFError.offsetNotAligned(file: url.path, tensor: "b", offset: 36, alignment: 32)) { _ = try GGUFFile(url: url) }
    }

    func testTensorPastTheDataSectionIsRefused() throws {
        var raw = valid()
        raw.tensors[1].offset = 64
        let (bytes, sections) = raw.build()
        let url = try writeBytes(Array(bytes.prefix(sections.last!.offset + 64)))
        let dataSize = 64
        assertThrows(GGUFError.tensorOutOfRange(file: url.path, tensor: "b", end: 76, dataSize: dataSize)) { _ = try GGUFFile(url: url) }

        // 160 bytes at the last aligned offset below 2^64: offset + size wraps around.
        var huge = valid()
        huge.tensors[1] = RawGGUF.Tensor(name: "b", dimensions: [40], offset: UInt64.max - 31,
                                         data: [UInt8](repeating: 0, count: 160))
        let hugeURL = try write(huge, "huge.gguf")
        XCTAssertThrowsError(try GGUFFile(url: hugeURL)) { error in
            guard case let GGUFError.tensorOutOfRange(_, tensor, end, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(tensor, "b")
            XCTAssertEqual(end, .max, "an offset whose end overflows is reported, not wrapped")
        }
    }

    func testOverlappingTensorsAreRefused() throws {
        var raw = valid()
        raw.tensors[1].offset = 0
        let url = try write(raw)
        assertThrows(GGUFError.overlappingTensors(file: url.path, tensor: "b", other: "a")) { _ = try GGUFFile(url: url) }
    }

    /// Cut at the start of every part and in the middle of it: the error names the part and where it ended.
    func testFileTruncatedInEverySectionNamesTheSection() throws {
        let (bytes, sections) = valid().build()
        let expectations: [(cut: Int, section: String)] = [
            (6, "header"), (20, "header"), (sections[1].offset + 26, "metadata key 0"), (sections[2].offset + 2, "metadata 'general.architecture'"),
            (sections[4].offset - 2, "metadata 'general.alignment' type"), (sections[6].offset + 9, "metadata 'test.list'"),
            (sections[7].offset + 4, "tensor info 0 name"), (sections[7].offset + 12, "tensor info 'a'"),
            (sections[8].offset + 20, "tensor info 'b'"),
        ]
        for (cut, section) in expectations {
            let url = try writeBytes(Array(bytes.prefix(cut)), "cut-\(cut).gguf")
            XCTAssertThrowsError(try GGUFFile(url: url), "cut at \(cut)") { error in
                switch error {
                case let GGUFError.truncated(_, found, _, _, size):
                    XCTAssertEqual(found, section, "cut at \(cut)")
                    XCTAssertEqual(size, cut)
                case let GGUFError.stringPastEnd(_, found, _, _), let GGUFError.countTooLarge(_, found, _, _):
                    XCTAssertTrue(found.contains(section) || section.contains(found), "cut at \(cut): \(error)")
                default:
                    XCTFail("cut at \(cut): \(error)")
                }
            }
        }
    }

    /// Every prefix of a valid file is refused with a GGUFError (never a trap), and only the whole file opens.
    func testEveryPrefixOfAValidFileIsRefusedCleanly() throws {
        let (bytes, _) = valid().build()
        for length in 0..<bytes.count {
            let url = try writeBytes(Array(bytes.prefix(length)), "prefix.gguf")
            XCTAssertThrowsError(try GGUFFile(url: url), "prefix of \(length) bytes") { error in
                XCTAssertTrue(error is GGUFError, "prefix of \(length) bytes: \(error)")
            }
        }
        XCTAssertNoThrow(try GGUFFile(url: try writeBytes(bytes, "whole.gguf")))
    }

    func testUnsupportedTensorTypeIsRefusedOnUse() throws {
        var raw = valid()
        raw.tensors.append(RawGGUF.Tensor(name: "q", dimensions: [256], type: GGMLType.q2_K.rawValue, data: [UInt8](repeating: 0, count: 84)))
        let url = try write(raw)
        let file = try GGUFFile(url: url)
        assertThrows(GGUFError.unsupportedTensorType(file: url.path, tensor: "q", type: .q2_K)) { _ = try file.floatBuffer(file.tensor("q")!) }
    }
}
