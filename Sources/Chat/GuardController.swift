import Foundation
import Runtime

/// The guard as the chat, batch and server commands see it: loaded or not, on or off, and its scale.
/// A guard given as an adapter directory is a PEFT LoRA applied unmerged; off is scale 0, so switching per request
/// costs nothing.
final class GuardController: @unchecked Sendable {
    enum Failure: Error, CustomStringConvertible, Equatable {
        case notLoaded
        case invalidScale(Float)

        var description: String {
            switch self {
            case .notLoaded: return "no guard is loaded; start with --guard DIR (an adapter directory)"
            case .invalidScale(let scale): return "guard scale must be a finite number, found \(scale)"
            }
        }
    }

    /// What `--guard` names.
    enum Policy: Equatable {
        case off
        case adapter(URL)

        init(argument: String) {
            self = argument.lowercased() == "off" ? .off : .adapter(URL(fileURLWithPath: argument))
        }
    }

    private let model: LlamaModel
    private let lock = NSLock()
    private let appliedID: AppliedAdapterID?
    /// Where the guard came from, for `/stats` and `/health`.
    let source: String?
    private var enabled: Bool
    private var scale: Float = 1

    init(model: LlamaModel, policy: Policy) throws {
        self.model = model
        switch policy {
        case .off:
            appliedID = nil
            source = nil
            enabled = false
        case .adapter(let directory):
            let adapter = try PEFTAdapter.load(from: directory)
            appliedID = try model.applyLoRA(adapter.layers, scale: 1, source: directory.path)
            source = directory.path
            enabled = true
        }
    }

    var isLoaded: Bool { appliedID != nil }
    var isEnabled: Bool { lock.withLock { enabled } }
    var currentScale: Float { lock.withLock { scale } }

    /// `on (scale 1)`, `off`, or `none` when no guard is loaded.
    var stateDescription: String {
        guard isLoaded else { return "none" }
        return lock.withLock { enabled ? "on (scale \(scale))" : "off" }
    }

    /// The state as result records and HTTP responses report it.
    var stateJSON: [String: Any] {
        lock.withLock {
            ["loaded": appliedID != nil, "enabled": enabled, "scale": Double(scale), "source": source.map { $0 as Any } ?? NSNull()]
        }
    }

    func setEnabled(_ on: Bool) throws {
        guard let appliedID else {
            if on { throw Failure.notLoaded }
            return
        }
        try lock.withLock {
            try model.setScale(on ? scale : 0, for: appliedID)
            enabled = on
        }
    }

    func setScale(_ newScale: Float) throws {
        guard newScale.isFinite else { throw Failure.invalidScale(newScale) }
        guard let appliedID else { throw Failure.notLoaded }
        try lock.withLock {
            if enabled { try model.setScale(newScale, for: appliedID) }
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
