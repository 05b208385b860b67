import Foundation
import Runtime

/// A request field that is missing, of the wrong type or out of range; `field` is the JSON key path
/// (`messages[1].content`), as OpenAI's error objects name it in `param`.
struct RequestFieldError: Error, CustomStringConvertible, Equatable {
    let field: String
    let detail: String
    var description: String { "'\(field)' \(detail)" }
}

/// One generation request as batch lines and the HTTP API send it: a prompt or chat messages, sampling overrides,
/// stop strings and the guard setting. Parsed from a JSON object field by field so every error names its field.
struct CompletionRequest: Sendable {
    enum Input: Sendable, Equatable {
        /// Raw text, tokenized as `tokenizer(text)` does (OpenAI's legacy completions).
        case prompt(String)
        /// A conversation rendered through the model's chat template.
        case messages([ChatMessage])
    }

    var id: String?
    var input: Input
    var maxTokens: Int?
    var temperature: Float?
    var topP: Float?
    var topK: Int?
    var minP: Float?
    var repetitionPenalty: Float?
    var seed: UInt64?
    var stop: [String] = []
    /// nil: the server's or batch run's guard setting applies.
    var guardEnabled: Bool?
    var stream = false
    /// OpenAI's `stream_options.include_usage`: a last chunk with token counts.
    var includeUsage = false
    /// llama.cpp's extension: keep generating past end-of-sequence tokens.
    var ignoreEOS = false

    enum Accepts { case promptOrMessages, prompt, messages }

    static func parse(_ object: [String: Any], accepts: Accepts) throws -> CompletionRequest {
        let input: Input
        switch (object["prompt"], object["messages"], accepts) {
        case (let prompt?, nil, .promptOrMessages), (let prompt?, _, .prompt):
            input = .prompt(try promptText(prompt))
        case (nil, let messages?, .promptOrMessages), (_, let messages?, .messages):
            input = .messages(try chatMessages(messages))
        case (_?, _?, .promptOrMessages):
            throw RequestFieldError(field: "prompt", detail: "and 'messages' are both given; send one of them")
        case (_, nil, .messages):
            throw RequestFieldError(field: "messages", detail: "is required (an array of {\"role\", \"content\"} objects)")
        default:
            throw RequestFieldError(field: accepts == .prompt ? "prompt" : "messages",
                                    detail: accepts == .prompt ? "is required (a string)" : "or 'prompt' is required")
        }
        var request = CompletionRequest(input: input)
        if let id = object["id"] {
            if let text = id as? String { request.id = text } else if let number = id as? NSNumber, !isJSONBoolean(id) {
                request.id = number.stringValue
            } else { throw RequestFieldError(field: "id", detail: "must be a string or a number") }
        }
        // OpenAI's newer name for the same limit.
        request.maxTokens = try integer(object, "max_tokens", minimum: 0) ?? integer(object, "max_completion_tokens", minimum: 0)
        request.temperature = try number(object, "temperature", range: 0...100)
        request.topP = try number(object, "top_p", range: 0...1)
        if request.topP == 0 { throw RequestFieldError(field: "top_p", detail: "must be in (0, 1], found 0") }
        request.topK = try integer(object, "top_k", minimum: 0)
        request.minP = try number(object, "min_p", range: 0...1)
        request.repetitionPenalty = try number(object, "repetition_penalty", range: 0.0001...100)
        if let seed = try integer(object, "seed", minimum: Int.min) { request.seed = UInt64(bitPattern: Int64(seed)) }
        request.stop = try stopStrings(object["stop"])
        request.guardEnabled = try guardSetting(object["guard"])
        request.stream = try bool(object, "stream") ?? false
        request.ignoreEOS = try bool(object, "ignore_eos") ?? false
        if let options = object["stream_options"], !(options is NSNull) {
            guard let dictionary = options as? [String: Any] else {
                throw RequestFieldError(field: "stream_options", detail: "must be an object")
            }
            request.includeUsage = try bool(dictionary, "include_usage", path: "stream_options.include_usage") ?? false
        }
        if let n = try integer(object, "n", minimum: 1), n != 1 {
            throw RequestFieldError(field: "n", detail: "must be 1 (one answer per request), found \(n)")
        }
        return request
    }

    /// The generation options: the model's defaults with this request's overrides; `maxTokens` is capped by the caller.
    func generationOptions(defaults: SamplingParameters, defaultMaxTokens: Int) -> GenerationOptions {
        var sampling = defaults
        if let temperature { sampling.temperature = temperature }
        if let topP { sampling.topP = topP }
        if let topK { sampling.topK = topK }
        if let minP { sampling.minP = minP }
        if let repetitionPenalty { sampling.repetitionPenalty = repetitionPenalty }
        if let seed { sampling.seed = seed }
        return GenerationOptions(sampling: sampling, maxTokens: maxTokens ?? defaultMaxTokens, stopStrings: stop,
                                 ignoreEOS: ignoreEOS)
    }

    /// Prompt token ids: chat messages through the template, a raw prompt as `tokenizer(text)`.
    func promptIds(_ languageModel: LanguageModel) throws -> [Int] {
        switch input {
        case .prompt(let text): return languageModel.tokenizer.encode(text, addSpecialTokens: true)
        case .messages(let messages): return try languageModel.encodeChat(messages)
        }
    }

    // MARK: Field readers

    private static func promptText(_ value: Any) throws -> String {
        if let text = value as? String { return text }
        // OpenAI accepts a list of prompts; one answer per request here, so only a list of one.
        if let list = value as? [Any], list.count == 1, let text = list[0] as? String { return text }
        throw RequestFieldError(field: "prompt", detail: "must be a string")
    }

    private static func chatMessages(_ value: Any) throws -> [ChatMessage] {
        guard let list = value as? [Any] else {
            throw RequestFieldError(field: "messages", detail: "must be an array of {\"role\", \"content\"} objects")
        }
        guard !list.isEmpty else { throw RequestFieldError(field: "messages", detail: "must not be empty") }
        return try list.enumerated().map { index, item in
            guard let message = item as? [String: Any] else {
                throw RequestFieldError(field: "messages[\(index)]", detail: "must be an object with 'role' and 'content'")
            }
            guard let role = message["role"] as? String, !role.isEmpty else {
                throw RequestFieldError(field: "messages[\(index)].role", detail: "must be a non-empty string")
            }
            return ChatMessage(role: role, content: try messageContent(message["content"], path: "messages[\(index)].content"))
        }
    }

    /// A string, or OpenAI's list of content parts of which only `text` parts are understood.
    private static func messageContent(_ value: Any?, path: String) throws -> String {
        if let text = value as? String { return text }
        if value == nil || value is NSNull { throw RequestFieldError(field: path, detail: "is required (a string)") }
        guard let parts = value as? [Any] else { throw RequestFieldError(field: path, detail: "must be a string or a list of text parts") }
        return try parts.enumerated().map { index, part in
            guard let part = part as? [String: Any], part["type"] as? String == "text", let text = part["text"] as? String else {
                throw RequestFieldError(field: "\(path)[\(index)]", detail: "must be {\"type\": \"text\", \"text\": ...} (only text is supported)")
            }
            return text
        }.joined()
    }

    private static func stopStrings(_ value: Any?) throws -> [String] {
        guard let value, !(value is NSNull) else { return [] }
        if let text = value as? String { return [text] }
        if let list = value as? [Any], let texts = list as? [String] { return texts }
        throw RequestFieldError(field: "stop", detail: "must be a string or an array of strings")
    }

    private static func guardSetting(_ value: Any?) throws -> Bool? {
        guard let value, !(value is NSNull) else { return nil }
        if let text = value as? String {
            switch text.lowercased() {
            case "on", "true": return true
            case "off", "false": return false
            default: break
            }
        } else if isJSONBoolean(value), let flag = value as? Bool {
            return flag
        }
        throw RequestFieldError(field: "guard", detail: "must be \"on\", \"off\", true or false")
    }

    private static func bool(_ object: [String: Any], _ key: String, path: String? = nil) throws -> Bool? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard isJSONBoolean(value), let flag = value as? Bool else { throw RequestFieldError(field: path ?? key, detail: "must be true or false") }
        return flag
    }

    private static func integer(_ object: [String: Any], _ key: String, minimum: Int) throws -> Int? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber, !isJSONBoolean(value), number.doubleValue.rounded() == number.doubleValue,
              abs(number.doubleValue) < 9.2e18 else {
            throw RequestFieldError(field: key, detail: "must be an integer")
        }
        guard number.intValue >= minimum else { throw RequestFieldError(field: key, detail: "must be ≥ \(minimum), found \(number.intValue)") }
        return number.intValue
    }

    private static func number(_ object: [String: Any], _ key: String, range: ClosedRange<Double>) throws -> Float? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber, !isJSONBoolean(value), number.doubleValue.isFinite else {
            throw RequestFieldError(field: key, detail: "must be a number")
        }
        guard range.contains(number.doubleValue) else {
            throw RequestFieldError(field: key, detail: "must be in [\(range.lowerBound), \(range.upperBound)], found \(number.doubleValue)")
        }
        return number.floatValue
    }
}

/// JSONSerialization gives numbers and booleans as NSNumber, and an NSNumber 0 or 1 also casts to Bool; only the
/// boolean subclass tells `true` from `1`.
func isJSONBoolean(_ value: Any) -> Bool {
    type(of: value as AnyObject) == jsonBooleanType
}

private let jsonBooleanType = type(of: NSNumber(value: true))
