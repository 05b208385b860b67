import Foundation
import Runtime
import XCTest

/// JinjaValue construction and the context a chat render provides.
final class ChatTemplateValueTests: XCTestCase {
    func testDictionaryLiteralKeepsKeyOrderForToJSON() throws {
        let tool: JinjaValue = ["name": "f", "description": "d", "parameters": ["type": "object"]]
        let template = try ChatTemplate(source: "{{ tools[0]|tojson }}")
        XCTAssertEqual(try template.render(messages: [], addGenerationPrompt: false, extraContext: ["tools": [tool]]),
                       #"{"name": "f", "description": "d", "parameters": {"type": "object"}}"#)
    }

    func testJSONReaderKeepsKeyOrderAndIntegerness() throws {
        let value = try JinjaValue(json: #"{"z": 1, "a": [1.5, "é\u00e9\ud83d\udc4b", null, true], "m": {}}"#)
        XCTAssertEqual(value, .object(JinjaObject([("z", .int(1)), ("a", .array([.double(1.5), .string("éé👋"), .none, .bool(true)])), ("m", .object(JinjaObject()))])))
        guard case let .object(object) = value else { return XCTFail("not an object") }
        XCTAssertEqual(object.keys, ["z", "a", "m"])
    }

    func testChatContextDefinesToolsAndDocumentsAsNone() throws {
        let template = try ChatTemplate(source: "{{ tools is none }}{{ documents is none }}{{ add_generation_prompt }}{{ bos_token }}{{ eos_token }}")
        XCTAssertEqual(try template.render(messages: [], addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>"), "TrueTrueTrue<s></s>")
    }

    func testNullMessageFieldsAreDroppedLikeApplyChatTemplate() throws {
        let template = try ChatTemplate(source: "{% for m in messages %}{{ m.content is defined }}{{ m.tool_calls is defined }}{% endfor %}")
        let message: JinjaValue = ["role": "assistant", "content": nil, "tool_calls": []]
        XCTAssertEqual(try template.render(conversation: [message], addGenerationPrompt: false), "FalseTrue")
    }

    func testStrftimeNowFormatsTheInjectedClockInLocalTime() throws {
        let date = Date(timeIntervalSince1970: 1_721_952_000) // 2024-07-26 00:00:00 UTC
        let template = try ChatTemplate(source: "{{ strftime_now('%Y') }}", now: { date })
        var seconds = time_t(1_721_952_000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        XCTAssertEqual(try template.render(context: [:]), String(1900 + Int(parts.tm_year)))
    }

    func testTemplateIsParsedOnceAndRendersConcurrently() throws {
        let template = try ChatTemplate(source: ChatTemplateFixtures.templateSource("llama3"))
        let messages = [ChatMessage(role: "user", content: "Hi")]
        let expected = try template.render(messages: messages, addGenerationPrompt: true, bosToken: "<|begin_of_text|>")
        let results = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 8)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            results[index] = (try? template.render(messages: messages, addGenerationPrompt: true, bosToken: "<|begin_of_text|>")) == expected
        }
        XCTAssertTrue(results.allSatisfy { $0 })
    }
}
