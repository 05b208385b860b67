import Foundation

/// What to generate after a prompt.
public struct GenerationOptions: Sendable {
    public var sampling: SamplingParameters
    public var maxTokens: Int
    public var stopStrings: [String]
    /// Keep going past end-of-sequence tokens (benchmarks, parity checks).
    public var ignoreEOS: Bool

    public init(sampling: SamplingParameters = SamplingParameters(), maxTokens: Int = 256, stopStrings: [String] = [], ignoreEOS: Bool = false) {
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.stopStrings = stopStrings
        self.ignoreEOS = ignoreEOS
    }
}

public enum FinishReason: String, Sendable, Codable {
    /// An end-of-sequence token.
    case stop
    /// `maxTokens` reached, or the context is full.
    case length
    /// A stop string appeared.
    case stopString = "stop_string"
    /// The caller asked to stop.
    case cancelled
    /// The `DecodingRule` in force ended the answer (OpenAI's "content_filter": content was left out).
    case contentFilter = "content_filter"
}

/// One streamed piece of output: the new token and the text it completes (possibly empty while a UTF-8
/// character or a possible stop string is still incomplete).
public struct GenerationDelta: Sendable {
    public let tokenId: Int
    public let text: String
}

public struct GenerationResult: Sendable {
    public let promptIds: [Int]
    public let outputIds: [Int]
    public let text: String
    public let finishReason: FinishReason
    /// Prompt tokens whose keys and values came from the cache instead of being prefilled.
    public let reusedPromptTokens: Int
    public let prefillSeconds: Double
    public let decodeSeconds: Double
    /// The decoding rule in force during generation (nil: the model decoded alone); with one, the cache holds the
    /// first stream's reading of the output.
    public let rule: (any DecodingRule)?
    /// Positions in `outputIds` where the rule put another token than the one the first stream proposed.
    public let replacedPositions: [Int]

    public var decodeTokensPerSecond: Double {
        outputIds.count > 1 && decodeSeconds > 0 ? Double(outputIds.count - 1) / decodeSeconds : 0
    }
    public var prefillTokensPerSecond: Double {
        prefillSeconds > 0 ? Double(promptIds.count - reusedPromptTokens) / prefillSeconds : 0
    }
}

/// Autoregressive generation with streaming: prefill the prompt in one batched pass, then one token per step.
/// While the model has a `DecodingRule`, two streams are decoded side by side over the same text — the first (adapters
/// scoped to generated tokens off) in `cache`, the adapted one in a second cache copied from it after the prompt —
/// the first stream proposes each token and the rule's judge decides what the answer gets: the token, another in its
/// place, nothing yet (held until decided), or the end (`.contentFilter`). The rule in force when generation starts
/// holds to its end.
public struct TextGenerator {
    public let languageModel: LanguageModel

    public init(_ languageModel: LanguageModel) { self.languageModel = languageModel }

    /// Generates after `promptIds`, calling `onDelta` for each token; return `false` from it to stop early.
    /// When `cache` is large enough it is used, and its first `reusedPrefix` positions are kept when they already hold
    /// the first `reusedPrefix` prompt tokens (a chat's earlier turns); the rest of the prompt is prefilled after them.
    /// Afterwards the cache holds the first `cache.length` tokens of `promptIds + outputIds` (under a rule, as the
    /// first stream reads them, so that it can be reused as a prompt).
    public func generate(promptIds: [Int], options: GenerationOptions, cache: KVCache? = nil, reusedPrefix: Int = 0,
                         onDelta: (GenerationDelta) -> Bool = { _ in true }) throws -> GenerationResult {
        let model = languageModel.model
        try options.sampling.validate()
        guard options.maxTokens >= 0 else { throw GenerationError.invalidParameter(field: "max_tokens", detail: "must be ≥ 0, found \(options.maxTokens)") }
        guard !promptIds.isEmpty else { throw ModelError.emptyInput }
        guard promptIds.count < model.contextLength else {
            throw GenerationError.promptTooLong(promptTokens: promptIds.count, contextLength: model.contextLength)
        }
        let capacity = min(model.contextLength, promptIds.count + max(options.maxTokens, 1))
        let cache = cache.flatMap { $0.capacity >= capacity ? $0 : nil } ?? model.makeCache(capacity: capacity)
        // At least the last prompt token is run again: its logits choose the first new token.
        cache.truncate(to: min(max(0, reusedPrefix), promptIds.count - 1))
        let reused = cache.length

        var sampler = Sampler(parameters: options.sampling)
        var decoder = StreamingDecoder(tokenizer: languageModel.tokenizer, skipSpecialTokens: true)
        var stops = StopStringMatcher(stopStrings: options.stopStrings)
        var outputIds: [Int] = []
        var text = ""
        var finish = FinishReason.length

        /// Passes a token to the caller's stream; false when the stream ends there (a stop string, or the caller).
        func deliver(_ token: Int) -> Bool {
            outputIds.append(token)
            let (emit, stopped) = stops.append(decoder.append(token))
            text += emit
            if stopped { finish = .stopString; _ = onDelta(GenerationDelta(tokenId: token, text: emit)); return false }
            if !onDelta(GenerationDelta(tokenId: token, text: emit)) { finish = .cancelled; return false }
            return true
        }

        let prefillStart = Date()
        var logits = try model.forward(Array(promptIds[reused...]), cache: cache)
        let prefillSeconds = Date().timeIntervalSince(prefillStart)
        let decodeStart = Date()
        // The prompt is read unpatched by both streams, so the adapted stream starts from a copy of the cache.
        let rule = model.decodingRule
        var judge = rule?.makeJudge()
        var adaptedStream: (cache: KVCache, logits: [Float])?
        if rule != nil {
            let adaptedCache = model.makeCache(capacity: cache.capacity)
            adaptedCache.copy(from: cache)
            adaptedStream = (adaptedCache, logits)
        }
        var replacedPositions: [Int] = []
        var history = promptIds
        var decoded = 0  // tokens the streams have read: those delivered and, under a rule, those still held
        decoding: while decoded < options.maxTokens {
            let proposed = sampler.sample(logits, previousTokens: history)
            let endOfSequence = !options.ignoreEOS && languageModel.eosTokenIds.contains(proposed)
            var next = proposed
            if var current = judge, let adapted = adaptedStream?.logits {
                // Ending the answer carries no content: the end-of-sequence token is not judged, and held tokens are
                // decided where the answer ends.
                let verdict = endOfSequence ? current.finish() : current.read(proposed: proposed, logits: logits, adapted: adapted)
                judge = current
                for token in verdict.released { guard deliver(token) else { break decoding } }
                if verdict.ended { finish = .contentFilter; break }
                if endOfSequence { finish = .stop; break }
                guard let chosen = verdict.next else { finish = .contentFilter; break }
                if chosen != proposed { replacedPositions.append(decoded) }
                next = chosen
            } else {
                if endOfSequence { finish = .stop; break }
                if !deliver(next) { break }
            }
            decoded += 1
            history.append(next)
            if decoded == options.maxTokens || cache.length >= cache.capacity { break }
            if let stream = adaptedStream {
                // Both streams in one pass: the first reads the token as prompt, the adapted one as generated.
                let both = try model.forward(sideBySide: [next, next], caches: [cache, stream.cache], generatedRows: 1..<2)
                logits = Array(both[..<model.vocabularySize])
                adaptedStream?.logits = Array(both[model.vocabularySize...])
            } else {
                logits = try model.forward([next], cache: cache, phase: .generated)
            }
        }
        // The answer ran to its length with tokens held: they are decided where it ends.
        if finish == .length, var current = judge {
            let verdict = current.finish()
            let delivered = verdict.released.allSatisfy(deliver)
            if delivered && verdict.ended { finish = .contentFilter }
        }
        // Tokens decoded but held and then dropped are no part of the output: the cache forgets them.
        if cache.length > promptIds.count + outputIds.count { cache.truncate(to: promptIds.count + outputIds.count) }
        if finish != .stopString {
            let (tail, stopped) = stops.append(decoder.finish())
            let rest = tail + (stopped ? "" : stops.flush())
            if stopped { finish = .stopString }
            if !rest.isEmpty {
                text += rest
                _ = onDelta(GenerationDelta(tokenId: -1, text: rest))
            }
        }
        return GenerationResult(promptIds: promptIds, outputIds: outputIds, text: text, finishReason: finish,
                                reusedPromptTokens: reused, prefillSeconds: prefillSeconds, decodeSeconds: Date().timeIntervalSince(decodeStart),
                                rule: rule, replacedPositions: replacedPositions)
    }

    /// The same as an async stream of text deltas, for Swift callers; cancelling the consuming task stops generation.
    public func stream(promptIds: [Int], options: GenerationOptions) -> AsyncThrowingStream<GenerationDelta, Error> {
        AsyncThrowingStream { continuation in
            let task = Task.detached {
                do {
                    _ = try generate(promptIds: promptIds, options: options) { delta in
                        if Task.isCancelled { return false }
                        continuation.yield(delta)
                        return true
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
