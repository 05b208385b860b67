/// Errors choosing or switching a guard.
public enum GuardError: Error, CustomStringConvertible, Equatable {
    case generatorMissing(searched: String)
    case notActive
    case invalidScale(Float)
    /// Long answers to compare with that were made for other prompts than the suite's `long_prompts`.
    case unguardedAnswersMismatch(suite: String)

    public var description: String {
        switch self {
        case .generatorMissing(let searched):
            return "the TeleLoRA generator is missing (no adapters/telelora/spec.json \(searched)); pass --guard DIR for an adapter directory, or --guard off to run unguarded"
        case .notActive: return "no guard is active"
        case .invalidScale(let scale): return "guard scale must be a finite number, found \(scale)"
        case .unguardedAnswersMismatch(let suite):
            return "\(suite): the unguarded long answers are for other prompts than the suite's long_prompts"
        }
    }
}
