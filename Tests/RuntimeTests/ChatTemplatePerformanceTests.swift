import Foundation
import Runtime
import XCTest

/// Parsing happens once; rendering a typical conversation stays well under a millisecond.
final class ChatTemplatePerformanceTests: XCTestCase {
    // Release builds render these in about 0.1 ms; unoptimized debug builds, on a shared machine,
    // take several times longer, so they get a looser budget that still catches accidental
    // per-render parsing or quadratic work.
    #if DEBUG
    static let budgetMicroseconds = 5000.0
    #else
    static let budgetMicroseconds = 1000.0
    #endif

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
            XCTAssertLessThan(microseconds, Self.budgetMicroseconds, "\(name) renders in \(microseconds) µs")
        }
    }
}
