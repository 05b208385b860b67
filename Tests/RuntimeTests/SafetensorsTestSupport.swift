import Foundation
import XCTest

@testable import Runtime

/// A fresh directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("teleguard-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Hand-built safetensors bytes, for layouts our writer never produces (bad input, odd alignment).
enum RawSafetensors {
    /// 8-byte little-endian `headerLength` (default: the header's length), `header`, then `data`.
    static func bytes(header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> Data {
        let headerBytes = Array(header.utf8)
        var length = (headerLength ?? UInt64(headerBytes.count)).littleEndian
        var result = Data()
        withUnsafeBytes(of: &length) { result.append(contentsOf: $0) }
        result.append(contentsOf: headerBytes)
        result.append(contentsOf: data)
        return result
    }

    /// Little-endian bytes of `values`.
    static func bytes<Value>(of values: [Value]) -> [UInt8] {
        values.withUnsafeBytes { Array($0) }
    }
}

/// Asserts that `body` throws exactly `expected`.
func assertThrows<Failure: Error & Equatable>(
    _ expected: Failure, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void
) {
    do {
        try body()
        XCTFail("expected \(expected), but nothing was thrown", file: file, line: line)
    } catch let error as Failure {
        XCTAssertEqual(error, expected, file: file, line: line)
    } catch {
        XCTFail("expected \(expected), got \(error)", file: file, line: line)
    }
}
