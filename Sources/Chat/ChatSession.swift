import Foundation
import Runtime

/// A multi-turn conversation with one model: the system prompt, the turns so far, the sampling options, and the KV
/// cache kept between turns. Each turn renders the whole conversation through the chat template; the positions
/// whose tokens equal the previous turn's are reused instead of prefilled again.
final class ChatSession {
    let languageModel: LanguageModel
    var systemPrompt: String?
    var options: GenerationOptions
    private(set) var turns: [ChatMessage] = []
    private(set) var lastResult: GenerationResult?
    private(set) var lastSeconds: Double = 0
    private var cache: KVCache?
    /// The tokens whose keys and values `cache` holds, in order.
    private var cachedTokens: [Int] = []

    /// A first cache this large (or the context, when smaller) serves most chats without a real model's full context.
    static let initialCacheCapacity = 4096

    init(languageModel: LanguageModel, options: GenerationOptions, systemPrompt: String? = nil) {
        self.languageModel = languageModel
        self.options = options
        self.systemPrompt = systemPrompt
    }

    /// Positions of the context the conversation occupies.
    var contextUsed: Int { cachedTokens.count }
    var contextLength: Int { languageModel.model.contextLength }

    /// The last user message, for `/compare`.
    var lastUserMessage: String? { turns.last(where: { $0.role == "user" })?.content }

    /// Forgets the turns (the system prompt stays); the cache is kept for its memory but holds nothing reusable.
    func reset() {
        turns = []
        cachedTokens = []
        lastResult = nil
    }

    /// Keys and values depend on the weights: after an adapter or the guard changes, nothing cached is reusable.
    func invalidateCache() { cachedTokens = [] }

    /// The conversation as the template sees it, optionally with one more user message.
    func messages(adding user: String? = nil, history: [ChatMessage]? = nil) -> [ChatMessage] {
        var messages: [ChatMessage] = []
        if let systemPrompt, !systemPrompt.isEmpty { messages.append(ChatMessage(role: "system", content: systemPrompt)) }
        messages += history ?? turns
        if let user { messages.append(ChatMessage(role: "user", content: user)) }
        return messages
    }

    /// Answers `text` as the next user turn, streaming through `onDelta` (return false to stop). The turn and the
    /// answer (even a stopped one) join the conversation.
    @discardableResult
    func send(_ text: String, onDelta: (GenerationDelta) -> Bool) throws -> GenerationResult {
        let result = try answer(messages(adding: text), onDelta: onDelta)
        turns.append(ChatMessage(role: "user", content: text))
        turns.append(ChatMessage(role: "assistant", content: result.text))
        return result
    }

    /// Answers the last user message again with the context before it, leaving the conversation as it is
    /// (`/compare` runs it once per guard setting).
    func answerLastAgain(onDelta: (GenerationDelta) -> Bool) throws -> GenerationResult? {
        guard let index = turns.lastIndex(where: { $0.role == "user" }) else { return nil }
        return try answer(messages(adding: turns[index].content, history: Array(turns[..<index])), onDelta: onDelta)
    }

    private func answer(_ messages: [ChatMessage], onDelta: (GenerationDelta) -> Bool) throws -> GenerationResult {
        let promptIds = try languageModel.encodeChat(messages)
        let model = languageModel.model
        let needed = min(model.contextLength, promptIds.count + max(options.maxTokens, 1))
        if let existing = cache, existing.capacity < needed {
            // A larger cache starts empty: nothing to reuse from the old one.
            cache = nil
            cachedTokens = []
        }
        let capacity = max(needed, min(model.contextLength, Self.initialCacheCapacity))
        let cache = self.cache ?? model.makeCache(capacity: capacity)
        self.cache = cache
        let reusable = zip(cachedTokens, promptIds).prefix { $0 == $1 }.count
        let start = Date()
        let result: GenerationResult
        do {
            result = try TextGenerator(languageModel).generate(promptIds: promptIds, options: options, cache: cache,
                                                               reusedPrefix: reusable, onDelta: onDelta)
        } catch {
            cachedTokens = Array(promptIds.prefix(min(cache.length, reusable)))
            throw error
        }
        lastSeconds = Date().timeIntervalSince(start)
        // The answer's keys and values were written by generated-token passes; under a guard scoped to generated tokens
        // the next turn must read the answer as prompt, so only the prompt is reusable then — unless a decoding rule decoded
        // it, which leaves the first stream's reading of the answer in the cache.
        let kept = model.hasGeneratedTokenAdapter && result.rule == nil ? promptIds : promptIds + result.outputIds
        cachedTokens = Array(kept.prefix(cache.length))
        lastResult = result
        return result
    }
}
