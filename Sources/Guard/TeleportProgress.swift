/// How far a teleport has got; reported as it goes.
public enum TeleportProgress: Sendable, Equatable, CustomStringConvertible {
    /// Probe prompts run through the model so far.
    case probing(completed: Int, total: Int)
    /// Layers whose patch the generator has made so far.
    case generating(completed: Int, total: Int)

    public var description: String {
        switch self {
        case .probing(let completed, let total): return "probing \(completed)/\(total)"
        case .generating(let completed, let total): return "generating \(completed)/\(total)"
        }
    }
}
