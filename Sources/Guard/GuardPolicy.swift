import Foundation

/// What guards a model: nothing, an adapter teleported by the TeleLoRA generator in a directory, or a PEFT adapter
/// directory.
public enum GuardPolicy: Sendable, Equatable, CustomStringConvertible {
    case off
    /// Teleport with the generator in this directory (`adapters/telelora`).
    case teleport(generator: URL)
    case adapter(URL)

    public var description: String {
        switch self {
        case .off: return "off"
        case .teleport: return "teleport"
        case .adapter(let url): return url.path
        }
    }
}
