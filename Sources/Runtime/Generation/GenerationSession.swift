import Foundation

/// One answer being decoded, a step at a time: the prompt is prefilled when the session is made; then `nextToken()`
/// chooses what the answer gets from the current logits (sampling, the decoding rule's verdict, stop strings, the
/// caller's stream) and names the token the streams read next, the caller runs that pass (`TextGenerator` alone,
/// `BatchGenerator` beside other sessions) and hands the logits back with `read(logits:adapted:)`, until `nextToken()`
/// returns nil; `finish()` gives the result.
///
/// While the model has a `DecodingRule`, two streams read the same text — the first (adapters scoped to generated
/// tokens off) in `cache`, the adapted one in `adaptedCache`, a copy made after the prompt — the first proposes each
/// token and the rule's judge decides what the answer gets: the token, another in its place, nothing yet (held until
/// decided), or the end (`.contentFilter`). The rule in force when the session starts holds to its end.
public final class GenerationSession {
    public let promptIds: [Int]
    public let options: GenerationOptions
    /// The first stream's cache; afterwards it holds the first `cache.length` tokens of prompt and output.
    public let cache: KVCache
    /// The adapted stream's cache while a decoding rule is in force.
    public let adaptedCache: KVCache?
    public let rule: (any DecodingRule)?

    private let languageModel: LanguageModel
    private let onDelta: (GenerationDelta) -> Bool
    private let reused: Int
    private let prefillSeconds: Double
    private let decodeStart: Date
    private var sampler: Sampler
    private var decoder: StreamingDecoder
    private var stops: StopStringMatcher
    private var judge: (any TokenJudge)?
    private var logits: [Float]
    private var adaptedLogits: [Float]?
    private var outputIds: [Int] = []
    private var text = ""
    private var finishReason = FinishReason.length
    private var replacedPositions: [Int] = []
    private var history: [Int]
    /// Tokens the streams have read: those delivered and, under a rule, those still held.
    private var decoded = 0
    public private(set) var isFinished = false

    /// Validates the request and prefills the prompt. When `cache` is large enough it is used, and its first
    /// `reusedPrefix` positions are kept when they already hold the first `reusedPrefix` prompt tokens (a chat's
    /// earlier turns); the rest of the prompt is prefilled after them. `onDelta` receives each token; returning false
    /// from it stops the answer.
    public init(_ languageModel: LanguageModel, promptIds: [Int], options: GenerationOptions, cache: KVCache? = nil,
                reusedPrefix: Int = 0, onDelta: @escaping (GenerationDelta) -> Bool = { _ in true }) throws {
        let model = languageModel.model
        try options.sampling.validate()
        guard options.maxTokens >= 0 else { throw GenerationError.invalidParameter(field: "max_tokens", detail: "must be ≥ 0, found \(options.maxTokens)") }
        guard !promptIds.isEmpty else { throw ModelError.emptyInput }
        guard promptIds.count < model.contextLength else {
            throw GenerationError.promptTooLong(promptTokens: promptIds.count, contextLength: model.contextLength)
        }
        self.languageModel = languageModel
        self.promptIds = promptIds
        self.options = options
        self.onDelta = onDelta
        let capacity = min(model.contextLength, promptIds.count + max(options.maxTokens, 1))
        let cache = cache.flatMap { $0.capacity >= capacity ? $0 : nil } ?? model.makeCache(capacity: capacity)
        // At least the last prompt token is run again: its logits choose the first new token.
        cache.truncate(to: min(max(0, reusedPrefix), promptIds.count - 1))
        self.cache = cache
        reused = cache.length
        sampler = Sampler(parameters: options.sampling)
        decoder = StreamingDecoder(tokenizer: languageModel.tokenizer, skipSpecialTokens: true)
        stops = StopStringMatcher(stopStrings: options.stopStrings)
        history = promptIds

        let prefillStart = Date()
        logits = try model.forward(Array(promptIds[reused...]), cache: cache)
        prefillSeconds = Date().timeIntervalSince(prefillStart)
        decodeStart = Date()
        // The prompt is read unpatched by both streams, so the adapted stream starts from a copy of the cache.
        rule = model.decodingRule
        judge = rule?.makeJudge()
        if rule != nil {
            let adapted = model.makeCache(capacity: cache.capacity)
            adapted.copy(from: cache)
            adaptedCache = adapted
            adaptedLogits = logits
        } else {
            adaptedCache = nil
        }
    }

    /// Passes a token to the caller's stream; false when the stream ends there (a stop string, or the caller).
    private func deliver(_ token: Int) -> Bool {
        outputIds.append(token)
        let (emit, stopped) = stops.append(decoder.append(token))
        text += emit
        if stopped { finishReason = .stopString; _ = onDelta(GenerationDelta(tokenId: token, text: emit)); return false }
        if !onDelta(GenerationDelta(tokenId: token, text: emit)) { finishReason = .cancelled; return false }
        return true
    }

    private func end() -> Int? {
        isFinished = true
        return nil
    }

    /// Chooses what the answer gets from the current logits and returns the token both streams read next, or nil
    /// when the answer has ended.
    public func nextToken() -> Int? {
        guard !isFinished, decoded < options.maxTokens else { return end() }
        let proposed = sampler.sample(logits, previousTokens: history)
        let endOfSequence = !options.ignoreEOS && languageModel.eosTokenIds.contains(proposed)
        var next = proposed
        if var current = judge, let adapted = adaptedLogits {
            // Ending the answer carries no content: the end-of-sequence token is not judged, and held tokens are
            // decided where the answer ends.
            let verdict = endOfSequence ? current.finish() : current.read(proposed: proposed, logits: logits, adapted: adapted)
            judge = current
            for token in verdict.released { guard deliver(token) else { return end() } }
            if verdict.ended { finishReason = .contentFilter; return end() }
            if endOfSequence { finishReason = .stop; return end() }
            guard let chosen = verdict.next else { finishReason = .contentFilter; return end() }
            if chosen != proposed { replacedPositions.append(decoded) }
            next = chosen
        } else {
            if endOfSequence { finishReason = .stop; return end() }
            if !deliver(next) { return end() }
        }
        decoded += 1
        history.append(next)
        if decoded == options.maxTokens || cache.length >= cache.capacity { return end() }
        return next
    }

    /// The logits the pass over the token `nextToken()` returned gave: the first stream's, and the adapted stream's
    /// under a rule.
    public func read(logits: [Float], adapted: [Float]?) {
        self.logits = logits
        if adaptedCache != nil { adaptedLogits = adapted }
    }

    /// Decides held tokens, flushes the text and returns the result. Call once, after `nextToken()` returned nil.
    public func finish() -> GenerationResult {
        // The answer ran to its length with tokens held: they are decided where it ends.
        if finishReason == .length, var current = judge {
            let verdict = current.finish()
            let delivered = verdict.released.allSatisfy(deliver)
            if delivered && verdict.ended { finishReason = .contentFilter }
        }
        // Tokens decoded but held and then dropped are no part of the output: the cache forgets them.
        if cache.length > promptIds.count + outputIds.count { cache.truncate(to: promptIds.count + outputIds.count) }
        if finishReason != .stopString {
            let (tail, stopped) = stops.append(decoder.finish())
            let rest = tail + (stopped ? "" : stops.flush())
            if stopped { finishReason = .stopString }
            if !rest.isEmpty {
                text += rest
                _ = onDelta(GenerationDelta(tokenId: -1, text: rest))
            }
        }
        return GenerationResult(promptIds: promptIds, outputIds: outputIds, text: text, finishReason: finishReason,
                                reusedPromptTokens: reused, prefillSeconds: prefillSeconds, decodeSeconds: Date().timeIntervalSince(decodeStart),
                                rule: rule, replacedPositions: replacedPositions)
    }
}
