/// A rule that decides each generated token from two streams over the same text: the model with its adapters scoped
/// to generated tokens off (the *first* stream, which proposes each token through the sampler) and with them on (the
/// *adapted* stream). `TextGenerator` decodes both in one batched pass per token and does what the rule's verdict
/// says; Runtime knows nothing of what a rule is for (the guards in Sources/Guard are such rules). A rule is applied
/// with the adapter it belongs to (`LlamaModel.applyLoRA(_:rule:)`) and holds while that adapter is active.
public protocol DecodingRule: Sendable, CustomStringConvertible {
    /// Fresh state for one answer.
    func makeJudge() -> any TokenJudge
}

/// One answer's judge: reads each proposed token with both streams' logits at that step.
public protocol TokenJudge {
    /// `proposed`: the first stream's choice; `logits`/`adapted`: the two streams' logits it was chosen from.
    mutating func read(proposed: Int, logits: [Float], adapted: [Float]) -> TokenVerdict
    /// The answer ended (end of sequence, length, a stop): decide on whatever is held.
    mutating func finish() -> TokenVerdict
}

/// What happens after a token was read.
public struct TokenVerdict: Sendable, Equatable {
    /// The token both streams read next: the proposal, or the rule's replacement for it. Ignored when `ended`.
    public var next: Int?
    /// Tokens that join the answer now, in order (a rule may hold tokens back until it has decided on them).
    public var released: [Int]
    /// The answer ends after `released`; tokens still held are dropped (`FinishReason.contentFilter`).
    public var ended: Bool

    public init(next: Int?, released: [Int], ended: Bool = false) {
        self.next = next
        self.released = released
        self.ended = ended
    }

    /// The proposal goes on as it is.
    public static func accept(_ token: Int) -> TokenVerdict { TokenVerdict(next: token, released: [token]) }
}
