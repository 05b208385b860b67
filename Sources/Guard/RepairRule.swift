import Foundation
import Runtime

/// The repair rule: a guard's decoding rule that keeps the answer going (after CleanGen, Li et al., EMNLP 2024,
/// arXiv 2406.12257: the suspect model drafts, a reference judges, a rejected token is replaced by the reference's
/// choice and decoding continues). Here the original model proposes each token and the patched model is the
/// reference: a proposal the patched model finds far less likely, `q(t) < ratio · p(t)`, is replaced by the patched
/// model's most likely token, which both streams then read; the answer never ends early by the rule. CleanGen's
/// α = 20 is `ratio` 0.05.
public struct RepairRule: DecodingRule, Equatable {
    public let ratio: Double
    public static let defaultRatio = 0.05

    public init(ratio: Double = RepairRule.defaultRatio, field: String = "repair_ratio") throws {
        guard ratio.isFinite, ratio > 0, ratio <= 1 else {
            throw GenerationError.invalidParameter(field: field, detail: "must be in (0, 1], found \(ratio)")
        }
        self.ratio = ratio
    }

    public var description: String { "repair at ratio \(RepairRule.format(ratio))" }

    public func makeJudge() -> any TokenJudge { Judge(threshold: Float(log(ratio))) }

    /// Reads each proposal by its log ratio; the answer goes on with the proposal or its repair.
    struct Judge: TokenJudge {
        let threshold: Float

        mutating func read(proposed: Int, logits: [Float], adapted: [Float]) -> TokenVerdict {
            let logRatio = TokenVeto.logProbability(of: proposed, in: adapted) - TokenVeto.logProbability(of: proposed, in: logits)
            guard logRatio < threshold else { return .accept(proposed) }
            let repair = Sampler.argmax(adapted)
            return TokenVerdict(next: repair, released: [repair])
        }

        mutating func finish() -> TokenVerdict { TokenVerdict(next: nil, released: []) }
    }

    static func format(_ value: Double) -> String {
        value >= 1e-3 ? String(format: "%g", value) : String(format: "%.3g", value)
    }
}
