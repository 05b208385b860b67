/// Errors raised while running a loaded model or changing its adapters and taps.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case tokenOutOfRange(id: Int, vocabularySize: Int)
    case contextOverflow(needed: Int, capacity: Int)
    case emptyInput
    case unknownLayer(name: String, example: String)
    case unknownAdapter(AppliedAdapterID)
    case mergedScopedAdapter(source: String)
    case ruleWithoutGeneratedScope(source: String)

    public var description: String {
        switch self {
        case .tokenOutOfRange(let id, let size): return "token id \(id) is outside the vocabulary (0..<\(size))"
        case .contextOverflow(let needed, let capacity):
            return "prompt and generation need \(needed) positions but the context holds \(capacity)"
        case .emptyInput: return "no input tokens"
        case .unknownLayer(let name, let example): return "no linear layer named '\(name)' (names look like '\(example)')"
        case .unknownAdapter(let id): return "\(id) is not applied to this model"
        case .mergedScopedAdapter(let source):
            return "\(source): an adapter that acts on generated tokens only cannot be merged; apply it unmerged"
        case .ruleWithoutGeneratedScope(let source):
            return "\(source): a decoding rule needs an adapter that acts on generated tokens only (patch positions 'generated')"
        }
    }
}
