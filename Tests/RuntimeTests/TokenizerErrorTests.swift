import Foundation
import XCTest
@testable import Runtime

/// One test per class of malformed tokenizer.json: each names the file and the JSON field.
final class TokenizerErrorTests: XCTestCase {
    private let file = "models/x/tokenizer.json"

    private func loadError(_ json: String) -> TokenizerError? {
        do {
            _ = try Tokenizer(data: Data(json.utf8), fileName: file)
            return nil
        } catch {
            return error as? TokenizerError
        }
    }

    private func bpe(vocab: String = #"{"a": 0, "b": 1, "ab": 2}"#, merges: String = #"["a b"]"#) -> String {
        #"{"model": {"type": "BPE", "vocab": \#(vocab), "merges": \#(merges)}}"#
    }

    func testValidMinimalFileLoads() throws {
        let tokenizer = try Tokenizer(data: Data(bpe().utf8), fileName: file)
        XCTAssertEqual(tokenizer.encode("ab"), [2])
    }

    func testNotJSONNamesFileAndPosition() {
        XCTAssertEqual(loadError("{not json"),
                       .notJSON(file: file, reason: "expected a string key at line 1 (byte 1)"))
        XCTAssertEqual(loadError("[1, 2]"), .notJSON(file: file, reason: "the top level is not an object"))
    }

    func testMissingModel() {
        XCTAssertEqual(loadError(#"{"version": "1.0", "added_tokens": []}"#), .missingField(file: file, field: "model"))
    }

    func testMissingVocab() {
        XCTAssertEqual(loadError(#"{"model": {"type": "BPE", "merges": []}}"#),
                       .missingField(file: file, field: "model.vocab"))
    }

    func testUnknownModelType() {
        XCTAssertEqual(loadError(#"{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}"#),
                       .unsupportedType(file: file, field: "model.type", found: "Unigram"))
    }

    func testMergeNamingUnknownToken() {
        XCTAssertEqual(loadError(bpe(merges: #"["a b", "a c"]"#)),
                       .unknownMergeToken(file: file, field: "model.merges[1]", token: "c"))
        XCTAssertEqual(loadError(bpe(merges: #"[["x", "b"]]"#)),
                       .unknownMergeToken(file: file, field: "model.merges[0]", token: "x"))
    }

    func testMergeWhoseResultIsNotInVocab() {
        XCTAssertEqual(loadError(bpe(vocab: #"{"a": 0, "b": 1}"#)),
                       .unknownMergeToken(file: file, field: "model.merges[0]", token: "ab"))
    }

    func testMalformedMerge() {
        XCTAssertEqual(loadError(bpe(merges: #"["ab"]"#)),
                       .invalidValue(file: file, field: "model.merges[0]",
                                     reason: "a merge string must hold two tokens separated by one space"))
    }

    func testVocabIdOfWrongType() {
        XCTAssertEqual(loadError(bpe(vocab: #"{"a": "0", "b": 1, "ab": 2}"#)),
                       .wrongType(file: file, field: "model.vocab.a", expected: "an integer", found: "a string"))
    }

    func testUnknownPreTokenizerTypeNamesItsPosition() {
        let json = #"{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits"}, {"type": "Magic"}]}, "model": {"vocab": {}, "merges": []}}"#
        XCTAssertEqual(loadError(json),
                       .unsupportedType(file: file, field: "pre_tokenizer.pretokenizers[1].type", found: "Magic"))
    }

    func testRegexThatDoesNotCompile() {
        let json = #"{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"}, "model": {"vocab": {}, "merges": []}}"#
        XCTAssertEqual(loadError(json),
                       .invalidValue(file: file, field: "pre_tokenizer.pattern.Regex", reason: "regular expression does not compile: (a"))
    }

    func testUnknownSplitBehavior() {
        let json = #"{"pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}, "model": {"vocab": {}, "merges": []}}"#
        XCTAssertEqual(loadError(json),
                       .invalidValue(file: file, field: "pre_tokenizer.behavior", reason: "unknown split behavior \"Sideways\""))
    }

    func testUnknownTokenNotInVocab() {
        let json = #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}}"#
        XCTAssertEqual(loadError(json),
                       .invalidValue(file: file, field: "model.unk_token", reason: "\"<unk>\" is not in model.vocab"))
    }

    func testUnreadableFile() {
        let url = URL(fileURLWithPath: "/nonexistent/tokenizer.json")
        XCTAssertThrowsError(try Tokenizer(url: url)) { error in
            guard case let .unreadable(file, _)? = error as? TokenizerError else {
                return XCTFail("expected unreadable, got \(error)")
            }
            XCTAssertEqual(file, "/nonexistent/tokenizer.json")
        }
    }

    func testDescriptionNamesFileAndField() {
        let error = TokenizerError.unknownMergeToken(file: file, field: "model.merges[1]", token: "c")
        XCTAssertEqual(error.description,
                       "models/x/tokenizer.json: field model.merges[1] names token \"c\", which is not in model.vocab")
    }
}
