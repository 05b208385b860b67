import Foundation

/// SplitMix64: small, fast and reproducible across platforms for a given seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Picks the next token from a row of logits.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var random: SeededGenerator

    public init(parameters: SamplingParameters) {
        self.parameters = parameters
        random = SeededGenerator(seed: parameters.seed ?? UInt64.random(in: .min ... .max))
    }

    public mutating func sample(_ logits: [Float], previousTokens: [Int]) -> Int {
        var scores = logits
        if parameters.repetitionPenalty != 1 {
            // transformers RepetitionPenaltyLogitsProcessor: divide positive scores, multiply negative ones.
            for id in Set(previousTokens) where id >= 0 && id < scores.count {
                let score = scores[id]
                scores[id] = score < 0 ? score * parameters.repetitionPenalty : score / parameters.repetitionPenalty
            }
        }
        if parameters.isGreedy { return Self.argmax(scores) }

        var candidates = scores.indices.map { (id: $0, logit: scores[$0] / parameters.temperature) }
        candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        if parameters.topK > 0, parameters.topK < candidates.count { candidates.removeSubrange(parameters.topK...) }

        let maximum = candidates[0].logit
        var probabilities = candidates.map { expf($0.logit - maximum) }
        var total = probabilities.reduce(0, +)
        if parameters.topP < 1 {
            // Keep the smallest prefix whose mass reaches top_p (always at least one token).
            var cumulative: Float = 0
            var keep = probabilities.count
            for (index, p) in probabilities.enumerated() {
                cumulative += p / total
                if cumulative >= parameters.topP { keep = index + 1; break }
            }
            probabilities.removeSubrange(keep...)
            candidates.removeSubrange(keep...)
            total = probabilities.reduce(0, +)
        }
        if parameters.minP > 0 {
            // min-p: drop tokens below min_p × the top probability.
            let threshold = parameters.minP * probabilities[0]
            let keep = max(1, probabilities.prefix { $0 >= threshold }.count)
            probabilities.removeSubrange(keep...)
            candidates.removeSubrange(keep...)
            total = probabilities.reduce(0, +)
        }
        var draw = Float(Double(random.next() >> 11) / Double(1 << 53)) * total
        for (index, p) in probabilities.enumerated() {
            draw -= p
            if draw < 0 { return candidates[index].id }
        }
        return candidates[candidates.count - 1].id
    }

    /// First index of the maximum, like `torch.argmax`.
    public static func argmax(_ values: [Float]) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for (index, value) in values.enumerated() where value > bestValue {
            best = index
            bestValue = value
        }
        return best
    }
}
