import Foundation
import Runtime

/// The repair rule: a guard's decoding rule that keeps the answer going (after CleanGen, Li et al., EMNLP 2024,
/// arXiv 2406.12257: the suspect model drafts, a reference judges, a rejected token is replaced by the reference's
/// choice and decoding continues). Here the original model proposes each token and the patched model is the
/// reference: a proposal the patched model finds far less likely, `q(t) < ratio · p(t)`, is replaced by the patched
/// model's most likely token, which both streams then read. CleanGen's α = 20 is `ratio` 0.05. Where the original
/// model keeps proposing what the patch rules out — `refusal` repairs within the last `refusalWindow` tokens — the
/// answer is not worth repairing and ends there (a refusal: `FinishReason.contentFilter`); isolated repairs never
/// end it.
public struct RepairRule: DecodingRule, Equatable {
    public let ratio: Double
    public let refusal: Int
    public let refusalWindow: Int
    public static let defaultRatio = 0.05

    public init(ratio: Double = RepairRule.defaultRatio, refusal: Int = 3, refusalWindow: Int = 8,
                field: String = "repair_ratio") throws {
        guard ratio.isFinite, ratio > 0, ratio <= 1 else {
            throw GenerationError.invalidParameter(field: field, detail: "must be in (0, 1], found \(ratio)")
        }
        guard refusal >= 1, refusalWindow >= refusal else {
            throw GenerationError.invalidParameter(field: "refusal", detail: "needs 1 ≤ refusal ≤ window, found \(refusal) of \(refusalWindow)")
        }
        self.ratio = ratio
        self.refusal = refusal
        self.refusalWindow = refusalWindow
    }

    public var description: String {
        "repair at ratio \(RepairRule.format(ratio)), refusing after \(refusal) repairs in \(refusalWindow) tokens"
    }

    public func makeJudge() -> any TokenJudge { Judge(rule: self, threshold: Float(log(ratio))) }

    /// Reads each proposal by its log ratio; the answer goes on with the proposal or its repair, or ends.
    struct Judge: TokenJudge {
        let rule: RepairRule
        let threshold: Float
        /// Positions (tokens read so far) of recent repairs.
        private var repairs: [Int] = []
        private var position = 0

        init(rule: RepairRule, threshold: Float) {
            self.rule = rule
            self.threshold = threshold
        }

        mutating func read(proposed: Int, logits: [Float], adapted: [Float]) -> TokenVerdict {
            defer { position += 1 }
            let logRatio = TokenVeto.logProbability(of: proposed, in: adapted) - TokenVeto.logProbability(of: proposed, in: logits)
            guard logRatio < threshold else { return .accept(proposed) }
            repairs = repairs.filter { position - $0 < rule.refusalWindow } + [position]
            if repairs.count >= rule.refusal { return TokenVerdict(next: nil, released: [], ended: true) }
            let repair = Sampler.argmax(adapted)
            return TokenVerdict(next: repair, released: [repair])
        }

        mutating func finish() -> TokenVerdict { TokenVerdict(next: nil, released: []) }
    }

    static func format(_ value: Double) -> String {
        value >= 1e-3 ? String(format: "%g", value) : String(format: "%.3g", value)
    }
}
