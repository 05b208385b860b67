import Foundation
import XCTest
@testable import Runtime

final class TokenizerSpeedTests: XCTestCase {
    /// Prints encode throughput on the ~5 KB paragraph (the last fixture text); asserts nothing.
    func testReportEncodeSpeedOnParagraph() throws {
        let paragraph = try XCTUnwrap(TokenizerFixtures.texts().last)
        for name in TokenizerFixtures.families {
            let tokenizer = try TokenizerFixtures.load(name).tokenizer
            // The first encode fills the word cache; later ones mostly hit it.
            let coldStart = Date()
            let count = tokenizer.encode(paragraph).count
            let cold = Date().timeIntervalSince(coldStart)
            let repeats = 5
            let warmStart = Date()
            for _ in 0..<repeats { _ = tokenizer.encode(paragraph) }
            let warm = Date().timeIntervalSince(warmStart) / Double(repeats)
            print(String(format: "encode %@: %d bytes -> %d ids, first %.2f ms (%.1f MB/s), repeated %.2f ms",
                         name, paragraph.utf8.count, count, cold * 1000,
                         Double(paragraph.utf8.count) / cold / 1e6, warm * 1000))
        }
    }
}
