import Foundation
import XCTest

@testable import Runtime

/// The JSON parser behind safetensors headers and index files (RFC 8259).
final class SafetensorsJSONTests: XCTestCase {
    private func parse(_ text: String) -> Result<HeaderJSON, HeaderJSON.ParseFailure> {
        HeaderJSON.parse(Data(text.utf8))
    }

    private func assertFails(_ text: String, _ reason: String, line: UInt = #line) {
        XCTAssertEqual(parse(text), .failure(HeaderJSON.ParseFailure(reason: reason)), line: line)
    }

    func testScalarsArraysAndObjects() {
        XCTAssertEqual(
            parse(#" {"a": [1, -0, 2.5, -1e3, 1E+2, true, false, null], "b": {}, "c": []} "#),
            .success(.object([
                "a": .array([.integer(1), .integer(0), .number(2.5), .number(-1000), .number(100),
                             .bool(true), .bool(false), .null]),
                "b": .object([:]), "c": .array([]),
            ])))
    }

    func testIntegersStayExactAndHugeOnesBecomeNumbers() {
        XCTAssertEqual(parse("9007199254740993"), .success(.integer(9_007_199_254_740_993)))
        XCTAssertEqual(parse("-9223372036854775808"), .success(.integer(Int.min)))
        XCTAssertEqual(parse("18446744073709551616"), .success(.number(18_446_744_073_709_551_616)))
    }

    func testStringEscapesAndSurrogatePairs() {
        XCTAssertEqual(
            parse(#""q\" b\\ s\/ \b\f\n\r\t \u00e9 \ud83d\ude00 é""#),
            .success(.string("q\" b\\ s/ \u{8}\u{c}\n\r\t é 😀 é")))
    }

    func testMalformedInputIsRejectedWithAPosition() {
        assertFails("", "unexpected end of input at byte 0")
        assertFails("{\"a\":1,}", "expected a string key at byte 7")
        assertFails("[1 2]", "expected ']' at byte 3")
        assertFails("{} x", "unexpected data after the value at byte 3")
        assertFails("01", "unexpected data after the value at byte 1")
        assertFails("1.", "invalid number at byte 2")
        assertFails("tru", "invalid literal at byte 3")
        assertFails("\"abc", "unterminated string at byte 4")
        assertFails("\"a\nb\"", "control character in string at byte 3")
        assertFails(#""\x""#, "invalid escape at byte 3")
        assertFails(#""\ud83d""#, "unpaired surrogate at byte 7")
        assertFails(#"{"a":1,"a":2}"#, "duplicate key \"a\" at byte 7")
        assertFails(String(repeating: "[", count: 300), "nesting deeper than 256 at byte 256")
    }

    func testInvalidUTF8IsRejected() {
        XCTAssertEqual(
            HeaderJSON.parse(Data([0x22, 0xFF, 0x22])), .failure(HeaderJSON.ParseFailure(reason: "invalid UTF-8 in string at byte 1")))
    }
}
