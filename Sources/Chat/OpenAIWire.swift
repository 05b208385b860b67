import Foundation

/// Response bodies of the OpenAI-compatible API, field for field as OpenAI sends them (snake_case keys, explicit
/// nulls where OpenAI has them), plus a `guard` object saying whether the guard was on for the answer.
enum OpenAIWire {
    struct Usage: Encodable, Sendable {
        let promptTokens: Int
        let completionTokens: Int
        var totalTokens: Int { promptTokens + completionTokens }

        enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens" }
        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(promptTokens, forKey: .promptTokens)
            try container.encode(completionTokens, forKey: .completionTokens)
            try container.encode(totalTokens, forKey: .totalTokens)
        }
    }

    /// TeleGuard's extension field: whether the guard was on, and the tokens its rule replaced (count and positions).
    struct GuardState: Encodable, Sendable {
        let enabled: Bool
        var replacedTokens: Int?
        var replacedPositions: [Int]?

        enum CodingKeys: String, CodingKey {
            case enabled, replacedTokens = "replaced_tokens", replacedPositions = "replaced_positions"
        }
    }

    struct Message: Encodable, Sendable {
        var role: String?
        var content: String?
    }

    /// One choice of a chat completion (`message`) or of a chat chunk (`delta`).
    struct ChatChoice: Encodable, Sendable {
        let index: Int
        var message: Message?
        var delta: Message?
        let finishReason: String?

        enum CodingKeys: String, CodingKey { case index, message, delta, finishReason = "finish_reason", logprobs }
        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encodeIfPresent(message, forKey: .message)
            try container.encodeIfPresent(delta, forKey: .delta)
            try container.encodeNil(forKey: .logprobs)
            try container.encode(finishReason, forKey: .finishReason)
        }
    }

    /// One choice of a text completion or of its chunks.
    struct TextChoice: Encodable, Sendable {
        let index: Int
        let text: String
        let finishReason: String?

        enum CodingKeys: String, CodingKey { case index, text, finishReason = "finish_reason", logprobs }
        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encode(text, forKey: .text)
            try container.encodeNil(forKey: .logprobs)
            try container.encode(finishReason, forKey: .finishReason)
        }
    }

    /// `chat.completion`, `chat.completion.chunk`, `text_completion` (chunks of the legacy API use the same object).
    struct Completion<Choice: Encodable & Sendable>: Encodable, Sendable {
        let id: String
        let object: String
        let created: Int
        let model: String
        let choices: [Choice]
        var usage: Usage?
        var `guard`: GuardState?

        enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage, `guard`, systemFingerprint = "system_fingerprint" }
        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(object, forKey: .object)
            try container.encode(created, forKey: .created)
            try container.encode(model, forKey: .model)
            try container.encodeNil(forKey: .systemFingerprint)
            try container.encode(choices, forKey: .choices)
            try container.encodeIfPresent(usage, forKey: .usage)
            try container.encodeIfPresent(`guard`, forKey: .guard)
        }
    }

    struct Model: Encodable, Sendable {
        let id: String
        let object = "model"
        let created: Int
        let ownedBy = "teleguard"
        enum CodingKeys: String, CodingKey { case id, object, created, ownedBy = "owned_by" }
    }

    struct ModelList: Encodable, Sendable {
        let object = "list"
        let data: [Model]
    }

    /// `{"error": {"message", "type", "param", "code"}}`.
    struct ErrorResponse: Encodable, Sendable {
        struct Body: Encodable, Sendable {
            let message: String
            let type: String
            let param: String?
            let code: String?
            func encode(to encoder: Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(message, forKey: .message)
                try container.encode(type, forKey: .type)
                try container.encode(param, forKey: .param)
                try container.encode(code, forKey: .code)
            }
            enum CodingKeys: String, CodingKey { case message, type, param, code }
        }
        let error: Body

        init(message: String, type: String = "invalid_request_error", param: String? = nil, code: String? = nil) {
            error = Body(message: message, type: type, param: param, code: code)
        }
    }

    static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // Encoding these plain structs cannot fail; an empty object keeps the stream well-formed regardless.
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }
}
