import Foundation
import XCTest
@testable import Runtime

/// tokenizer_config.json: special tokens and the chat template, read byte for byte.
final class TokenizerConfigTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.remove() }

    private func load(_ json: String) throws -> TokenizerConfig {
        try Data(json.utf8).write(to: directory.file("tokenizer_config.json"))
        return try TokenizerConfig.load(directory: directory.url)
    }

    private func scalars(_ text: String?) -> [UInt32] { text?.unicodeScalars.map(\.value) ?? [] }

    /// swift-corelibs' JSONSerialization drops U+FEFF inside strings; a template must keep it, raw or escaped.
    func testChatTemplateKeepsByteOrderMarks() throws {
        let template = "\u{FEFF}{{ bos_token }}{% for m in messages %}\u{FEFF}{{ m['content'] }}{% endfor %}"
        let escaped = template.replacingOccurrences(of: "\u{FEFF}", with: "\\ufeff")
        for written in [template, escaped] {
            let config = try load(#"{"bos_token": "<s>", "eos_token": {"content": "</s>", "special": true}, "chat_template": "\#(written)"}"#)
            XCTAssertEqual(scalars(config.chatTemplate?.text), scalars(template))
            XCTAssertEqual(config.chatTemplate?.file, directory.file("tokenizer_config.json").path)
            XCTAssertEqual(config.bosToken, "<s>")
            XCTAssertEqual(config.eosToken, "</s>")
        }
    }

    func testNamedTemplateListUsesTheDefaultOne() throws {
        let config = try load(#"{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D\ufeff"}]}"#)
        XCTAssertEqual(scalars(config.chatTemplate?.text), [0x44, 0xFEFF])
        XCTAssertEqual(try load(#"{"chat_template": [{"name": "rag", "template": "R"}]}"#).chatTemplate?.text, "R")
        XCTAssertNil(try load(#"{"chat_template": [{"name": "default", "template": "D"}, "x"]}"#).chatTemplate)
    }

    /// As Python's json.load, which transformers reads the file with.
    func testRepeatedKeyTakesItsLastValue() throws {
        let config = try load(#"{"eos_token": "<a>", "eos_token": {"content": "<b>", "content": "<c>"}}"#)
        XCTAssertEqual(config.eosToken, "<c>")
    }

    func testMalformedFileNamesPosition() {
        let file = directory.file("tokenizer_config.json").path
        XCTAssertThrowsError(try load("{\n\"bos_token\": <s>}")) { error in
            XCTAssertEqual(error as? ModelConfigError,
                           .malformed(file: file, detail: "not valid JSON: unexpected character at line 2 (byte 15)"))
        }
        XCTAssertThrowsError(try load(#"["<s>"]"#)) { error in
            XCTAssertEqual(error as? ModelConfigError, .malformed(file: file, detail: "not a JSON object"))
        }
    }
}
