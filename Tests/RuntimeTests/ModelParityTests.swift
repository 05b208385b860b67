import XCTest
@testable import Runtime

/// Parity with Hugging Face transformers on the reference fixtures: logits, greedy continuations, tokenizer ids and
/// chat renderings, for every fixture model (sharded bf16, zstd f16, Qwen2 with biases and tied embeddings, old
/// config keys).
final class ModelParityTests: XCTestCase {
    static let logitsTolerance: Float = 1e-4

    func testFixturesArePresent() {
        XCTAssertGreaterThanOrEqual(Fixtures.modelNames.count, 4, "fixture models missing under \(Fixtures.models.path)")
    }

    func testLastPositionLogitsMatchTransformers() throws {
        for name in Fixtures.modelNames {
            let languageModel = try LanguageModel.load(directory: Fixtures.model(name))
            for reference in try Fixtures.expected(name).logits {
                let logits = try languageModel.model.forward(reference.prompt_ids, cache: languageModel.model.makeCache())
                assertClose(logits, reference.last_logits, "\(name) prompt of \(reference.prompt_ids.count) tokens")
            }
        }
    }

    func testGreedyContinuationsMatchTransformers() throws {
        for name in Fixtures.modelNames {
            let languageModel = try LanguageModel.load(directory: Fixtures.model(name))
            for reference in try Fixtures.expected(name).greedy {
                let result = try TextGenerator(languageModel).generate(
                    promptIds: reference.prompt_ids,
                    options: GenerationOptions(maxTokens: reference.output_ids.count, ignoreEOS: true))
                XCTAssertEqual(result.outputIds, reference.output_ids, "\(name)")
            }
        }
    }

    func testPrefillInOneBatchEqualsTokenByToken() throws {
        let name = try XCTUnwrap(Fixtures.modelNames.first)
        let model = try LanguageModel.load(directory: Fixtures.model(name)).model
        let prompt = try XCTUnwrap(Fixtures.expected(name).logits.last).prompt_ids
        let batched = try model.forward(prompt, cache: model.makeCache())
        let cache = model.makeCache()
        var stepped: [Float] = []
        for id in prompt { stepped = try model.forward([id], cache: cache) }
        assertClose(batched, stepped, "batched vs stepwise", tolerance: 1e-4)
    }

    func testTokenizerIdsMatchTransformers() throws {
        for name in Fixtures.modelNames {
            let tokenizer = try Tokenizer(url: Fixtures.model(name).appendingPathComponent("tokenizer.json"))
            for reference in try Fixtures.expected(name).tokenizer {
                XCTAssertEqual(tokenizer.encode(reference.text), reference.ids, "\(name): \(reference.text.debugDescription)")
                XCTAssertEqual(tokenizer.encode(reference.text, addSpecialTokens: false), reference.ids_no_special, "\(name)")
                XCTAssertEqual(tokenizer.decode(reference.ids_no_special), reference.decoded, "\(name)")
                XCTAssertEqual(tokenizer.decode(reference.ids, skipSpecialTokens: true), reference.decoded_skip_special, "\(name)")
            }
        }
    }

    func testChatRenderingsAndIdsMatchTransformers() throws {
        for name in Fixtures.modelNames {
            let formatter = try ChatFormatter.load(directory: Fixtures.model(name))
            for reference in try Fixtures.expected(name).chat {
                let messages = reference.messages.map { ChatMessage(role: $0.role, content: $0.content) }
                XCTAssertEqual(try formatter.renderChat(messages, addGenerationPrompt: reference.add_generation_prompt),
                               reference.rendered, "\(name)")
                XCTAssertEqual(try formatter.encodeChat(messages, addGenerationPrompt: reference.add_generation_prompt),
                               reference.ids, "\(name)")
            }
        }
    }
}

func assertClose(_ actual: [Float], _ expected: [Float], _ message: String, tolerance: Float = ModelParityTests.logitsTolerance,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(message): length", file: file, line: line)
    var worst: Float = 0
    for (a, e) in zip(actual, expected) { worst = max(worst, abs(a - e)) }
    XCTAssertLessThanOrEqual(worst, tolerance, "\(message): max |Δ| = \(worst)", file: file, line: line)
}
