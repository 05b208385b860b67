import Runtime
import XCTest

/// Every conversation in expected.json renders exactly as transformers' apply_chat_template did.
final class ChatTemplateParityTests: XCTestCase {
    func testEveryRecordMatchesTransformers() throws {
        let records = try ChatTemplateFixtures.records()
        XCTAssertGreaterThan(records.count, 100)
        var templates: [String: ChatTemplate] = [:]
        for record in records {
            let template = try templates[record.template] ?? ChatTemplate(source: ChatTemplateFixtures.templateSource(record.template))
            templates[record.template] = template
            let label = "\(record.template)/\(record.conversation)/add_generation_prompt=\(record.addGenerationPrompt)"
            do {
                let rendered = try template.render(conversation: record.messages, addGenerationPrompt: record.addGenerationPrompt,
                                                   bosToken: record.bosToken, eosToken: record.eosToken, extraContext: record.extra)
                XCTAssertEqual(rendered, record.rendered, label)
                XCTAssertNil(record.error, label)
            } catch let ChatTemplateError.raised(message) {
                XCTAssertEqual(message, record.error, label)
            }
        }
    }

    func testChatMessageOverloadMatchesObjectMessages() throws {
        let template = try ChatTemplate(source: ChatTemplateFixtures.templateSource("chatml_qwen2"))
        let messages = [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi {{ x }}")]
        let viaMessages = try template.render(messages: messages, addGenerationPrompt: true)
        let viaObjects = try template.render(conversation: messages.map(JinjaValue.init), addGenerationPrompt: true)
        XCTAssertEqual(viaMessages, viaObjects)
        let record = try ChatTemplateFixtures.records().first {
            $0.template == "chatml_qwen2" && $0.conversation == "system_user" && $0.addGenerationPrompt
        }
        XCTAssertNotNil(record?.rendered)
    }
}
