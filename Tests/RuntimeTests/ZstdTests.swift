import Foundation
import XCTest

@testable import Runtime

final class ZstdTests: XCTestCase {
    /// A zstd frame built by hand from RFC 8878 §3.1.1: no content size in the header (as
    /// `zstd` writes when compressing a pipe), and the payload as raw blocks.
    private func frameWithoutContentSize(_ payload: [UInt8], blockSize: Int = 1000) -> Data {
        var frame: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]  // magic number 0xFD2FB528, little-endian
        frame.append(0x00)  // frame header descriptor: no content size, not single segment, no checksum
        frame.append(0x38)  // window descriptor: exponent 7 → 2^(10+7) = 128 KiB window
        var start = 0
        repeat {
            let end = min(start + blockSize, payload.count)
            let isLast = end == payload.count
            // Block header: bit 0 last block, bits 1-2 type (0 = raw), bits 3-23 size.
            let header = UInt32(isLast ? 1 : 0) | UInt32(end - start) << 3
            frame += [UInt8(header & 0xFF), UInt8(header >> 8 & 0xFF), UInt8(header >> 16 & 0xFF)]
            frame += payload[start..<end]
            start = end
        } while start < payload.count
        return Data(frame)
    }

    /// Deterministic bytes with some repetition, so compression has something to do.
    private func sample(count: Int) -> Data {
        var state: UInt32 = 12345
        return Data((0..<count).map { index in
            state = state &* 1_103_515_245 &+ 12345
            return index % 3 == 0 ? UInt8(index % 7) : UInt8(truncatingIfNeeded: state >> 16)
        })
    }

    func testCompressThenDecompressGivesTheInputBack() throws {
        for count in [0, 1, 1000, 300_000] {
            let input = sample(count: count)
            let compressed = try Zstd.compress(input, level: 3)
            XCTAssertEqual(try Zstd.decompress(compressed, file: "sample.zst"), input, "\(count) bytes")
        }
    }

    func testFrameWithoutContentSizeDecompressesAcrossManyBlocks() throws {
        // 300 KB: more than the first guess at the output size, so the buffer has to grow.
        let payload = Array(sample(count: 300_000))
        let frame = frameWithoutContentSize(payload)
        XCTAssertEqual(try Zstd.decompress(frame, file: "pipe.zst"), Data(payload))
    }

    func testConcatenatedFramesDecompressToTheConcatenation() throws {
        let first = sample(count: 5000)
        let second = Data("second frame".utf8)
        let joined = try Zstd.compress(first) + frameWithoutContentSize(Array(second))
        XCTAssertEqual(try Zstd.decompress(joined, file: "joined.zst"), first + second)
    }

    func testTruncatedFrameNamesTheFile() throws {
        let compressed = try Zstd.compress(sample(count: 10_000))
        assertThrows(ZstdError.truncatedFrame(file: "model.safetensors.zst")) {
            _ = try Zstd.decompress(compressed.dropLast(10), file: "model.safetensors.zst")
        }
        let raw = frameWithoutContentSize(Array(sample(count: 3000)))
        assertThrows(ZstdError.truncatedFrame(file: "raw.zst")) {
            _ = try Zstd.decompress(raw.prefix(raw.count - 1), file: "raw.zst")
        }
        assertThrows(ZstdError.truncatedFrame(file: "empty.zst")) { _ = try Zstd.decompress(Data(), file: "empty.zst") }
    }

    func testCorruptFrameNamesTheFileAndTheDecodersReason() throws {
        // Not a zstd frame at all.
        assertThrows(ZstdError.corruptFrame(file: "a.zst", reason: "Unknown frame descriptor")) {
            _ = try Zstd.decompress(Data("not zstd data".utf8), file: "a.zst")
        }
        // A block of the reserved type 3.
        var frame = Array(frameWithoutContentSize([1, 2, 3]))
        frame[6] |= 0b110
        assertThrows(ZstdError.corruptFrame(file: "b.zst", reason: "Data corruption detected")) {
            _ = try Zstd.decompress(Data(frame), file: "b.zst")
        }
        // Trailing garbage after a complete frame.
        let trailing = try Zstd.compress(Data([1, 2, 3])) + Data([0xAA, 0xBB, 0xCC, 0xDD, 0xEE])
        XCTAssertThrowsError(try Zstd.decompress(trailing, file: "c.zst")) { error in
            guard case let .corruptFrame(file, _) = error as? ZstdError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "c.zst")
        }
    }
}
