import Foundation
import XCTest

@testable import Runtime

/// The runtime's one JSON parser (RFC 8259), behind safetensors headers and indexes, tokenizer.json
/// and tokenizer_config.json.
final class JSONTests: XCTestCase {
    /// As a safetensors header is read.
    private func parse(_ text: String) throws -> JSONValue {
        try JSON.parse(Data(text.utf8), maximumDepth: SafetensorsHeader.maximumJSONDepth, duplicateKeys: .reject)
    }

    /// As tokenizer.json is read.
    private func parseKeepingDuplicates(_ text: String) throws -> JSONValue {
        try JSON.parse(Data(text.utf8), maximumDepth: Tokenizer.maximumJSONDepth, duplicateKeys: .keep)
    }

    private func assertFails(
        _ text: String, _ message: String, keepingDuplicates: Bool = false, line: UInt = #line
    ) {
        XCTAssertThrowsError(try keepingDuplicates ? parseKeepingDuplicates(text) : parse(text), line: line) { error in
            XCTAssertEqual((error as? JSON.SyntaxError)?.description, message, line: line)
        }
    }

    func testScalarsArraysAndObjects() throws {
        XCTAssertEqual(
            try parse(#" {"a": [1, -0, 2.5, -1e3, 1E+2, true, false, null], "b": {}, "c": []} "#),
            .object([
                ("a", .array([.integer(1), .integer(0), .number(2.5), .number(-1000), .number(100),
                              .bool(true), .bool(false), .null])),
                ("b", .object([])), ("c", .array([])),
            ]))
    }

    func testIntegersStayExactAndHugeOnesBecomeNumbers() throws {
        XCTAssertEqual(try parse("9007199254740993"), .integer(9_007_199_254_740_993))
        XCTAssertEqual(try parse("9223372036854775807"), .integer(Int.max))
        XCTAssertEqual(try parse("-9223372036854775808"), .integer(Int.min))
        XCTAssertEqual(try parse("9223372036854775808"), .number(9_223_372_036_854_775_808))
        XCTAssertEqual(try parse("18446744073709551616"), .number(18_446_744_073_709_551_616))
        XCTAssertEqual(try parse("2.0"), .number(2))
    }

    func testStringEscapesAndSurrogatePairs() throws {
        XCTAssertEqual(
            try parse(#""q\" b\\ s\/ \b\f\n\r\t \u00e9 \ud83d\ude00 é""#),
            .string("q\" b\\ s/ \u{8}\u{c}\n\r\t é 😀 é"))
    }

    /// Swift Strings compare by canonical equivalence; the parser keeps the bytes as written.
    func testByteOrderMarkAndDecomposedTextAreKeptAsWritten() throws {
        guard case let .string(text) = try parse("\"a\u{FEFF}b\\ufeffe\u{301}\"") else { return XCTFail("not a string") }
        XCTAssertEqual(Array(text.unicodeScalars.map(\.value)), [0x61, 0xFEFF, 0x62, 0xFEFF, 0x65, 0x301])
    }

    func testMembersKeepFileOrderAndAreLookedUpByExactBytes() throws {
        let value = try parseKeepingDuplicates(#"{"z": 0, "é": 1, "e\u0301": 2, "a": 3}"#)
        guard case let .object(members) = value else { return XCTFail("not an object") }
        XCTAssertEqual(members.map { Array($0.key.unicodeScalars.map(\.value)) },
                       [[0x7A], [0xE9], [0x65, 0x301], [0x61]])
        XCTAssertEqual(value["\u{E9}"], .integer(1))
        XCTAssertEqual(value["e\u{301}"], .integer(2))
        XCTAssertNil(value["b"])
        XCTAssertNotEqual(JSONValue.string("\u{E9}"), .string("e\u{301}"))
    }

    func testKeptDuplicateKeysAreReadFirstBySubscriptAndLastByLastValue() throws {
        let value = try parseKeepingDuplicates(#"{"a": 1, "b": 2, "a": 3}"#)
        XCTAssertEqual(value, .object([("a", .integer(1)), ("b", .integer(2)), ("a", .integer(3))]))
        XCTAssertEqual(value["a"], .integer(1))
        XCTAssertEqual(value.lastValue(forKey: "a"), .integer(3))
    }

    /// A reader that rejects duplicates indexes members by String, where these two would collide.
    func testRejectedDuplicatesIncludeCanonicallyEquivalentKeys() {
        assertFails(#"{"é":1,"e\u0301":2}"#, "duplicate key \"e\u{301}\" at line 1 (byte 8)")
        let manyKeys = (0..<40).map { "\"k\($0)\": \($0)" }.joined(separator: ", ")
        assertFails("{\(manyKeys), \"k7\": 0}", "duplicate key \"k7\" at line 1 (byte 421)")
    }

    func testMalformedInputIsRejectedWithAPosition() {
        assertFails("", "unexpected end of input at line 1 (byte 0)")
        assertFails("{\"a\":1,}", "expected a string key at line 1 (byte 7)")
        assertFails("[1 2]", "expected ']' at line 1 (byte 3)")
        assertFails("{} x", "unexpected data after the value at line 1 (byte 3)")
        assertFails("01", "unexpected data after the value at line 1 (byte 1)")
        assertFails("1.", "invalid number at line 1 (byte 2)")
        assertFails("-", "invalid number at line 1 (byte 1)")
        assertFails("1e+", "invalid number at line 1 (byte 3)")
        assertFails("tru", "invalid literal at line 1 (byte 3)")
        assertFails("\"abc", "unterminated string at line 1 (byte 4)")
        assertFails("\"a\nb\"", "control character in string at line 2 (byte 3)")
        assertFails(#""\x""#, "invalid escape at line 1 (byte 3)")
        assertFails(#""\ud83d""#, "unpaired surrogate at line 1 (byte 7)")
        assertFails(#"{"a":1,"a":2}"#, "duplicate key \"a\" at line 1 (byte 7)")
        assertFails(String(repeating: "[", count: 300), "nesting deeper than 256 at line 1 (byte 256)")
        assertFails(String(repeating: "[", count: 600), "nesting deeper than 512 at line 1 (byte 512)",
                    keepingDuplicates: true)
    }

    func testErrorsCountLines() {
        assertFails("{\n  \"a\": 1,\n  \"b\" 2\n}", "expected ':' at line 3 (byte 18)")
    }

    func testInvalidUTF8IsRejected() {
        for (bytes, message) in [
            ([0x22, 0xFF, 0x22], "invalid UTF-8 in string at line 1 (byte 1)"),
            ([0x20, 0x22, 0x5C, 0x6E, 0xC3, 0x22], "invalid UTF-8 in string at line 1 (byte 2)"),
        ] as [([UInt8], String)] {
            XCTAssertThrowsError(try JSON.parse(Data(bytes), maximumDepth: 8, duplicateKeys: .keep)) { error in
                XCTAssertEqual((error as? JSON.SyntaxError)?.description, message)
            }
        }
    }
}
