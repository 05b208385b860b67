import Foundation
import Runtime
import XCTest

/// SHA-256 against the FIPS 180-4 example digests (one block, two blocks, empty input, a million bytes in pieces).
final class SHA256Tests: XCTestCase {
    func testFIPSExamples() {
        XCTAssertEqual(SHA256.hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    func testIncrementalUpdatesEqualOneShot() {
        var hasher = SHA256()
        for _ in 0..<1000 { hasher.update(Array(repeating: UInt8(ascii: "a"), count: 1000)) }
        XCTAssertEqual(hasher.finalize(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// A large buffer (a weight file) hashed in pieces gives the digest of the same bytes hashed as an array.
    func testBufferUpdatesEqualByteUpdates() {
        let bytes = (0..<200_003).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        var fromBuffer = SHA256(), fromArray = SHA256()
        fromBuffer.update("prefix")
        bytes.withUnsafeBytes { fromBuffer.update($0) }
        fromArray.update("prefix")
        fromArray.update(bytes)
        XCTAssertEqual(fromBuffer.finalize(), fromArray.finalize())
        var million = SHA256()
        Array(repeating: UInt8(ascii: "a"), count: 1_000_000).withUnsafeBytes { million.update($0) }
        XCTAssertEqual(million.finalize(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
