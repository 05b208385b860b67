import Foundation
import Guard
import Runtime

/// The guard as the chat, batch and server commands see it: loaded or not, on or off, and its scale. The adapter is
/// applied unmerged, and off is scale 0, so switching per request costs nothing and never reloads.
final class GuardController: @unchecked Sendable {
    enum Failure: Error, CustomStringConvertible, Equatable {
        case notLoaded
        case invalidScale(Float)

        var description: String {
            switch self {
            case .notLoaded: return "no guard is loaded; start with --guard teleport or --guard DIR (a PEFT adapter)"
            case .invalidScale(let scale): return "guard scale must be a finite number, found \(scale)"
            }
        }
    }

    private let modelGuard: ModelGuard?
    private let lock = NSLock()
    /// The policy as `--guard` named it (`teleport`, a directory), for `/stats`, results and `/health`.
    let policyName: String
    private var enabled: Bool
    private var scale: Float

    /// Activates `policy` per the shared guard options (teleport progress on standard error).
    init(languageModel: LanguageModel, options: GuardOptions, policy: GuardPolicy) throws {
        policyName = policy.description
        scale = options.guardScale
        if policy == .off {
            modelGuard = nil
            enabled = false
        } else {
            modelGuard = try options.activate(policy, on: languageModel, mode: .unmerged).0
            enabled = true
        }
    }

    var isLoaded: Bool { modelGuard != nil }
    var isEnabled: Bool { lock.withLock { enabled } }
    var currentScale: Float { lock.withLock { scale } }

    /// `on (teleport, scale 1.0)`, `off (teleport)`, or `none` when no guard is loaded.
    var stateDescription: String {
        guard isLoaded else { return "none" }
        return lock.withLock { enabled ? "on (\(policyName), scale \(scale))" : "off (\(policyName))" }
    }

    /// The state as result records and HTTP responses report it.
    var stateJSON: [String: Any] {
        lock.withLock {
            ["loaded": modelGuard != nil, "enabled": enabled, "scale": Double(scale), "policy": policyName]
        }
    }

    func setEnabled(_ on: Bool) throws {
        guard let modelGuard else {
            if on { throw Failure.notLoaded }
            return
        }
        try lock.withLock {
            try modelGuard.setScale(on ? scale : 0)
            enabled = on
        }
    }

    func setScale(_ newScale: Float) throws {
        guard newScale.isFinite else { throw Failure.invalidScale(newScale) }
        guard let modelGuard else { throw Failure.notLoaded }
        try lock.withLock {
            if enabled { try modelGuard.setScale(newScale) }
            scale = newScale
        }
    }

    /// Runs `body` with the guard switched as a request asks (nil: as it is), then restores it.
    func with<T>(enabled requested: Bool?, _ body: () throws -> T) throws -> T {
        guard let requested, requested != isEnabled else { return try body() }
        let previous = isEnabled
        try setEnabled(requested)
        defer { try? setEnabled(previous) }
        return try body()
    }
}
