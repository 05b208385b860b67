import Foundation
import XCTest
@testable import Runtime

final class TokenizerSpeedTests: XCTestCase {
    /// Prints encode throughput on the ~5 KB paragraph (the last fixture text); asserts nothing.
    func testReportEncodeSpeedOnParagraph() throws {
        let paragraph = try XCTUnwrap(TokenizerFixtures.texts().last)
        for name in TokenizerFixtures.families {
            let tokenizer = try TokenizerFixtures.load(name).tokenizer
            _ = tokenizer.encode(paragraph)
            let repeats = 5
            let start = Date()
            var count = 0
            for _ in 0..<repeats { count += tokenizer.encode(paragraph).count }
            let seconds = Date().timeIntervalSince(start) / Double(repeats)
            print(String(format: "encode %@: %d bytes -> %d ids in %.2f ms (%.1f MB/s)", name,
                         paragraph.utf8.count, count / repeats, seconds * 1000,
                         Double(paragraph.utf8.count) / seconds / 1e6))
        }
    }
}
