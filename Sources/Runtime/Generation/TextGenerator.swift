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

/// Autoregressive generation with streaming: prefill the prompt in one batched pass, then one token per step
/// (`GenerationSession` says what each step does; under a `DecodingRule` its two streams are read in one pass).
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
        try withoutActuallyEscaping(onDelta) { onDelta in
            let session = try GenerationSession(languageModel, promptIds: promptIds, options: options, cache: cache,
                                                reusedPrefix: reusedPrefix, onDelta: onDelta)
            let model = languageModel.model, vocabulary = model.vocabularySize
            while let next = session.nextToken() {
                if let adapted = session.adaptedCache {
                    // Both streams in one pass: the first reads the token as prompt, the adapted one as generated.
                    let both = try model.forward(sideBySide: [next, next], caches: [session.cache, adapted], generatedRows: 1..<2)
                    session.read(logits: Array(both[..<vocabulary]), adapted: Array(both[vocabulary...]))
                } else {
                    session.read(logits: try model.forward([next], cache: session.cache, phase: .generated), adapted: nil)
                }
            }
            return session.finish()
        }
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
