import Foundation
import XCTest
@testable import Runtime

final class TokenizerSplitPatternTests: XCTestCase {
    private let patterns = [
        ByteLevelAlphabet.gpt2Pattern,
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
    ]

    /// The hand-written matchers and the general regex path cut every fixture text identically.
    func testWellKnownMatchersAgreeWithRegexPath() throws {
        let field = JSONField(value: .null, file: "test")
        let texts = try TokenizerFixtures.texts() + ["'S'ſ'Ll x'RE", " \u{0B}\u{85}x \n\r\n \t", "a\u{301}b  1234567 !!\r\n\r\n"]
        for pattern in patterns {
            let wellKnown = try SplitPattern(regex: pattern, field: field)
            guard case .wellKnown = wellKnown else { return XCTFail("not recognised: \(pattern)") }
            let regex = SplitPattern.regex(try NSRegularExpression(pattern: SplitPattern.icuPattern(pattern)))
            for text in texts {
                let expected = regex.findMatches(in: text).map { (text[$0.range].unicodeScalars.map(\.value), $0.isMatch) }
                let found = wellKnown.findMatches(in: text).map { (text[$0.range].unicodeScalars.map(\.value), $0.isMatch) }
                XCTAssertEqual(found.map(\.0), expected.map(\.0), TokenizerFixtures.show(text))
                XCTAssertEqual(found.map(\.1), expected.map(\.1), TokenizerFixtures.show(text))
            }
        }
    }

    /// Oniguruma's `\s` (White_Space) includes U+000B and U+0085; ICU's needs them added.
    func testWhitespaceClassIncludesVerticalTabAndNextLine() throws {
        XCTAssertEqual(SplitPattern.icuPattern(#"\s+|[^\s\p{L}]|\S"#),
                       #"[\s\x{0B}\x{85}]+|[^\s\x{0B}\x{85}\p{L}]|[^\s\x{0B}\x{85}]"#)
    }
}
