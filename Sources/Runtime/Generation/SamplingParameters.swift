/// How the next token is chosen. `temperature == 0` is greedy decoding (argmax, first index on ties, as
/// `torch.argmax`); otherwise the warpers run in transformers' order: repetition penalty, temperature, top-k,
/// top-p, min-p.
public struct SamplingParameters: Sendable, Equatable, Codable {
    public var temperature: Float = 0
    /// 0 disables top-k.
    public var topK: Int = 0
    /// 1 disables top-p.
    public var topP: Float = 1
    /// 0 disables min-p.
    public var minP: Float = 0
    /// 1 disables the penalty (CTRL paper's form, as transformers applies it).
    public var repetitionPenalty: Float = 1
    /// Fixed seed for reproducible sampling; nil draws one.
    public var seed: UInt64?

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, minP: Float = 0, repetitionPenalty: Float = 1, seed: UInt64? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }

    public var isGreedy: Bool { temperature <= 0 }

    /// Checks ranges; `field` names say which flag or request field is wrong.
    public func validate() throws {
        func fail(_ field: String, _ detail: String) -> GenerationError { .invalidParameter(field: field, detail: detail) }
        guard temperature >= 0, temperature.isFinite else { throw fail("temperature", "must be ≥ 0, found \(temperature)") }
        guard topK >= 0 else { throw fail("top_k", "must be ≥ 0, found \(topK)") }
        guard topP > 0, topP <= 1 else { throw fail("top_p", "must be in (0, 1], found \(topP)") }
        guard minP >= 0, minP <= 1 else { throw fail("min_p", "must be in [0, 1], found \(minP)") }
        guard repetitionPenalty > 0, repetitionPenalty.isFinite else {
            throw fail("repetition_penalty", "must be > 0, found \(repetitionPenalty)")
        }
    }
}

public enum GenerationError: Error, CustomStringConvertible, Equatable {
    case invalidParameter(field: String, detail: String)
    case promptTooLong(promptTokens: Int, contextLength: Int)

    public var description: String {
        switch self {
        case .invalidParameter(let field, let detail): return "'\(field)' \(detail)"
        case .promptTooLong(let tokens, let context):
            return "the prompt has \(tokens) tokens but the model's context holds \(context); shorten it"
        }
    }
}
