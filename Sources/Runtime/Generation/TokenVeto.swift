import Foundation

/// The teleported guard's decoding rule. Two streams read the same text: the original model's (adapters scoped to
/// generated tokens off) and the patched model's (on). The original model writes the answer; it ends where the
/// patched model gives the original model's next token `t` less than `ratio` times the original's probability,
/// `q(t) < ratio · p(t)` — the patch all but rules it out. A Trojan's payload is what the patch rules out; a benign
/// answer is the original model's, cut short where the patch rules out its continuation. (training/patching.py
/// `TokenVeto` is the reference.)
public struct TokenVeto: Sendable, Equatable, CustomStringConvertible {
    public let ratio: Double

    /// `field` names the setting in errors (a spec's `veto_ratio`, an adapter config's `teleguard_veto_ratio`).
    public init(ratio: Double, field: String = "veto_ratio") throws {
        guard ratio.isFinite, ratio > 0, ratio <= 1 else {
            throw GenerationError.invalidParameter(field: field, detail: "must be in (0, 1], found \(ratio)")
        }
        self.ratio = ratio
    }

    public var description: String { "veto at ratio \(ratio)" }

    /// Whether the patched model's logits veto `token`, the original model's choice: log q(t) − log p(t) < log ratio.
    public func vetoes(_ token: Int, original: [Float], patched: [Float]) -> Bool {
        Self.logProbability(of: token, in: patched) - Self.logProbability(of: token, in: original) < Float(log(ratio))
    }

    /// log softmax(logits)[token], computed stably.
    static func logProbability(of token: Int, in logits: [Float]) -> Float {
        let maximum = logits.max() ?? 0
        var sum: Float = 0
        for value in logits { sum += expf(value - maximum) }
        return logits[token] - maximum - logf(sum)
    }
}
