import Foundation
import Runtime
import XCTest

/// Parsing happens once; rendering a typical conversation stays well under a millisecond.
final class ChatTemplatePerformanceTests: XCTestCase {
    func testRenderingATypicalConversationTakesUnderAMillisecond() throws {
        let conversation = [
            ChatMessage(role: "system", content: "You are a helpful assistant."),
            ChatMessage(role: "user", content: "What is the capital of France?"),
            ChatMessage(role: "assistant", content: "Paris."),
            ChatMessage(role: "user", content: "And of Germany? Answer in one word, please."),
        ]
        for name in ["llama3", "mistral", "qwen2_5_tools", "zephyr"] {
            let template = try ChatTemplate(source: ChatTemplateFixtures.templateSource(name))
            _ = try template.render(messages: conversation, addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
            let iterations = 200
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<iterations {
                _ = try template.render(messages: conversation, addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
            }
            let microseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(iterations) / 1000
            print("\(name): \(String(format: "%.1f", microseconds)) µs per render")
            XCTAssertLessThan(microseconds, 1000, "\(name) renders in \(microseconds) µs")
        }
    }
}
