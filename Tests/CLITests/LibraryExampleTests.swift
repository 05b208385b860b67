import Foundation
import Runtime
import XCTest

/// The library as a Swift program uses it: load a model, stream a chat answer. The ids equal transformers' greedy
/// continuation recorded in the fixture.
final class LibraryExampleTests: XCTestCase {
    struct Expected: Decodable {
        struct Case: Decodable { let text: String; let chat_output_ids: [Int] }
        let cli: [Case]
    }

    func testLoadAndStreamAChatCompletion() async throws {
        let directory = CommandRunner.fixtures.appendingPathComponent("models/qwen2-bias-tied-f32")
        let reference = try XCTUnwrap(try JSONDecoder().decode(Expected.self, from: Data(contentsOf: directory.appendingPathComponent("expected.json"))).cli.first)

        // The example: three lines from a directory to streamed text.
        let lm = try LanguageModel.load(path: directory.path)
        let options = GenerationOptions(maxTokens: reference.chat_output_ids.count, ignoreEOS: true)
        var text = "", ids: [Int] = []
        for try await delta in lm.chat([ChatMessage(role: "user", content: reference.text)], options: options) {
            text += delta.text
            if delta.tokenId >= 0 { ids.append(delta.tokenId) }
        }

        XCTAssertEqual(ids, reference.chat_output_ids)
        XCTAssertEqual(text, lm.tokenizer.decode(ids, skipSpecialTokens: true))
    }
}
