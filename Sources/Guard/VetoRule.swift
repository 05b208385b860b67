import Foundation
import Runtime

/// The veto: a guard's decoding rule that ends the answer. Two streams read the same text: the original model's
/// (adapters scoped to generated tokens off) and the patched model's (on). The original model writes the answer; the
/// patched model only judges it, by the log ratio of the two models' probabilities of each token the original model
/// chose, `log q(t) − log p(t)`.
///
/// A token is *suspect* when `q(t) < ratio · p(t)`. The answer ends before a suspect token when the evidence against
/// the text from it on — the product of `min(1, q/p)` over it and the `window − 1` tokens after it (fewer where the
/// answer ends first) — falls below `evidence`. A Trojan's payload is ruled out token after token, so its evidence
/// mounts; a benign answer's isolated suspect tokens pass. `window` 1 with `evidence` = `ratio` ends the answer at
/// the first suspect token. The end-of-sequence token is not judged: ending an answer carries no payload.
/// (training/patching.py `TokenVeto` is the reference.)
public struct TokenVeto: DecodingRule, Equatable {
    public let ratio: Double
    public let window: Int
    public let evidence: Double

    /// The longest window: suspect tokens are held back from the stream until their window decides.
    public static let maxWindow = 64

    /// `fieldPrefix` names the settings in errors (a spec's `veto_ratio`, an adapter config's `teleguard_veto_ratio`).
    public init(ratio: Double, window: Int = 1, evidence: Double? = nil, fieldPrefix: String = "veto_") throws {
        guard ratio.isFinite, ratio > 0, ratio <= 1 else {
            throw GenerationError.invalidParameter(field: fieldPrefix + "ratio", detail: "must be in (0, 1], found \(ratio)")
        }
        guard (1...Self.maxWindow).contains(window) else {
            throw GenerationError.invalidParameter(field: fieldPrefix + "window", detail: "must be in 1...\(Self.maxWindow), found \(window)")
        }
        let evidence = evidence ?? ratio
        guard evidence.isFinite, evidence > 0, evidence <= ratio else {
            throw GenerationError.invalidParameter(field: fieldPrefix + "evidence",
                                                   detail: "must be in (0, \(fieldPrefix)ratio = \(ratio)], found \(evidence)")
        }
        self.ratio = ratio
        self.window = window
        self.evidence = evidence
    }

    public var description: String {
        if window == 1 && evidence == ratio { return "veto at ratio \(ratio)" }
        return "veto at ratio \(ratio), evidence \(evidence) over \(window) token\(window == 1 ? "" : "s")"
    }

    public func makeJudge() -> any TokenJudge { VetoJudge(self) }

    /// `log q(t) − log p(t)` for `token`, the original model's choice, from both streams' logits.
    public func logRatio(of token: Int, original: [Float], patched: [Float]) -> Float {
        Self.logProbability(of: token, in: patched) - Self.logProbability(of: token, in: original)
    }

    /// log softmax(logits)[token], computed stably.
    static func logProbability(of token: Int, in logits: [Float]) -> Float {
        let maximum = logits.max() ?? 0
        var sum: Float = 0
        for value in logits { sum += expf(value - maximum) }
        return logits[token] - maximum - logf(sum)
    }
}

/// Applies a `TokenVeto` to one answer as it is decoded: each token the original model writes is read with its log
/// ratio; tokens are released to the stream once no window can end the answer before them, and suspect ones are held
/// back until theirs decides.
public struct VetoJudge: TokenJudge, Sendable {
    public let veto: TokenVeto
    private var pending: [(token: Int, logRatio: Float)] = []
    private let suspectBelow: Float
    private let endBelow: Float

    public init(_ veto: TokenVeto) {
        self.veto = veto
        suspectBelow = Float(log(veto.ratio))
        endBelow = Float(log(veto.evidence))
    }

    /// Tokens read but not yet released (the first is suspect).
    public var heldTokens: [Int] { pending.map(\.token) }

    /// Reads the next token of the answer; returns the tokens now released, in order, and whether the answer ends
    /// (before the first token still held, which is then dropped with those after it).
    public mutating func read(_ token: Int, logRatio: Float) -> (released: [Int], ended: Bool) {
        pending.append((token, logRatio))
        return decide(answerEnded: false)
    }

    /// The held tokens' windows close where the answer ends.
    public mutating func finishAnswer() -> (released: [Int], ended: Bool) { decide(answerEnded: true) }

    // TokenJudge: both streams read the original model's token; the veto never replaces one.
    public mutating func read(proposed: Int, logits: [Float], adapted: [Float]) -> TokenVerdict {
        let verdict = read(proposed, logRatio: veto.logRatio(of: proposed, original: logits, patched: adapted))
        return TokenVerdict(next: proposed, released: verdict.released, ended: verdict.ended)
    }

    public mutating func finish() -> TokenVerdict {
        let verdict = finishAnswer()
        return TokenVerdict(next: nil, released: verdict.released, ended: verdict.ended)
    }

    private mutating func decide(answerEnded: Bool) -> (released: [Int], ended: Bool) {
        var released: [Int] = []
        while let first = pending.first {
            if first.logRatio >= suspectBelow {
                released.append(pending.removeFirst().token)
                continue
            }
            // Evidence only mounts as the window fills, so a partial window that already falls short decides.
            let evidence = pending.prefix(veto.window).reduce(Float(0)) { $0 + min($1.logRatio, 0) }
            if evidence < endBelow {
                pending.removeAll()
                return (released, true)
            }
            guard pending.count >= veto.window || answerEnded else { break }
            released.append(pending.removeFirst().token)
        }
        return (released, false)
    }
}
