import Foundation

/// Builds one request's OpenAI response objects: chat (`chat.completion[.chunk]`) or text (`text_completion`).
struct CompletionFormat: Sendable {
    let id: String
    let chat: Bool
    let created: Int
    let model: String

    /// The whole answer (non-streaming).
    func complete(text: String, _ outcome: CompletionOutcome) -> Data {
        let usage = OpenAIWire.Usage(promptTokens: outcome.promptTokens, completionTokens: outcome.completionTokens)
        let guardState = OpenAIWire.GuardState(enabled: outcome.guardEnabled, replacedTokens: outcome.replacedPositions.count,
                                               replacedPositions: outcome.replacedPositions)
        if chat {
            let choice = OpenAIWire.ChatChoice(index: 0, message: .init(role: "assistant", content: text), finishReason: outcome.openAIFinishReason)
            return OpenAIWire.encode(OpenAIWire.Completion(id: id, object: "chat.completion", created: created, model: model,
                                                           choices: [choice], usage: usage, guard: guardState))
        }
        let choice = OpenAIWire.TextChoice(index: 0, text: text, finishReason: outcome.openAIFinishReason)
        return OpenAIWire.encode(OpenAIWire.Completion(id: id, object: "text_completion", created: created, model: model,
                                                       choices: [choice], usage: usage, guard: guardState))
    }

    /// One streamed piece: chat chunks carry `delta` (`role` in the first, `content` after, empty in the last).
    func chunk(role: String?, text: String?, finishReason: String?, guardEnabled: Bool? = nil, replacedPositions: [Int]? = nil) -> Data {
        let guardState = guardEnabled.map {
            OpenAIWire.GuardState(enabled: $0, replacedTokens: replacedPositions?.count, replacedPositions: replacedPositions)
        }
        if chat {
            let choice = OpenAIWire.ChatChoice(index: 0, delta: .init(role: role, content: text), finishReason: finishReason)
            return OpenAIWire.encode(OpenAIWire.Completion(id: id, object: "chat.completion.chunk", created: created, model: model,
                                                           choices: [choice], guard: guardState))
        }
        let choice = OpenAIWire.TextChoice(index: 0, text: text ?? "", finishReason: finishReason)
        return OpenAIWire.encode(OpenAIWire.Completion(id: id, object: "text_completion", created: created, model: model,
                                                       choices: [choice], guard: guardState))
    }

    /// `stream_options.include_usage`: a last chunk with no choices and the token counts.
    func usageChunk(_ outcome: CompletionOutcome) -> Data {
        let usage = OpenAIWire.Usage(promptTokens: outcome.promptTokens, completionTokens: outcome.completionTokens)
        if chat {
            return OpenAIWire.encode(OpenAIWire.Completion<OpenAIWire.ChatChoice>(id: id, object: "chat.completion.chunk", created: created,
                                                                                  model: model, choices: [], usage: usage))
        }
        return OpenAIWire.encode(OpenAIWire.Completion<OpenAIWire.TextChoice>(id: id, object: "text_completion", created: created,
                                                                              model: model, choices: [], usage: usage))
    }
}
