import Foundation
import Runtime

/// PEFT adapters applied to one model, numbered from 1 in load order, for the REPL's `/adapters` and the server's
/// `/adapters`. Disabling keeps an adapter loaded at scale 0, so enabling it again is instant.
final class AdapterRegistry: @unchecked Sendable {
    struct Slot: Sendable, Equatable {
        let number: Int
        let name: String
        let directory: String
        let appliedID: AppliedAdapterID
        var scale: Float
        var enabled: Bool
    }

    enum Failure: Error, CustomStringConvertible, Equatable {
        case unknownSlot(Int, loaded: [Int])
        case unknownName(String, loaded: [String])
        case ambiguousName(String, ids: [Int])
        case duplicateName(String)
        case missingDirectory(String)
        case invalidScale(Float)

        var description: String {
            switch self {
            case .unknownSlot(let number, let loaded):
                return loaded.isEmpty ? "no adapter \(number): none is loaded"
                    : "no adapter \(number): loaded are \(loaded.map(String.init).joined(separator: ", "))"
            case .unknownName(let name, let loaded):
                return loaded.isEmpty ? "no adapter named '\(name)': none is loaded"
                    : "no adapter named '\(name)': loaded are \(loaded.map { "'\($0)'" }.joined(separator: ", "))"
            case .ambiguousName(let name, let ids):
                return "\(ids.count) adapters are named '\(name)' (ids \(ids.map(String.init).joined(separator: ", "))): unload by id"
            case .duplicateName(let name): return "an adapter named '\(name)' is already loaded: unload it or give another name"
            case .missingDirectory(let path): return "\(path): no such adapter directory"
            case .invalidScale(let scale): return "scale must be a finite number, found \(scale)"
            }
        }
    }

    let model: LlamaModel
    private let lock = NSLock()
    private var slots: [Slot] = []
    private var nextNumber = 1

    init(model: LlamaModel) { self.model = model }

    var loaded: [Slot] { lock.withLock { slots } }

    @discardableResult
    func load(directory: URL, scale: Float = 1) throws -> Slot {
        try load(try read(directory: directory), scale: scale)
    }

    /// Reads a PEFT adapter directory and checks it was made for `model` (recorded fingerprint): a missing
    /// directory, a malformed adapter or another model's adapter is refused before anything is applied.
    func read(directory: URL) throws -> PEFTAdapter {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Failure.missingDirectory(directory.path)
        }
        let adapter = try PEFTAdapter.load(from: directory)
        try model.checkFits(adapter)
        return adapter
    }

    /// Applies a read adapter as a new slot, named `name` (default: its directory's name). Layer names and shapes
    /// are checked by the model first, so a refused adapter changes nothing.
    @discardableResult
    func load(_ adapter: PEFTAdapter, scale: Float = 1, name: String? = nil) throws -> Slot {
        guard scale.isFinite else { throw Failure.invalidScale(scale) }
        return try lock.withLock {
            let name = name ?? adapter.name
            let id = try model.apply(adapter, scale: scale)
            let slot = Slot(number: nextNumber, name: name, directory: adapter.directory.path, appliedID: id, scale: scale, enabled: true)
            nextNumber += 1
            slots.append(slot)
            return slot
        }
    }

    /// The id of the one loaded adapter named `name`.
    func number(named name: String) throws -> Int {
        try lock.withLock {
            let matches = slots.filter { $0.name == name }
            guard let first = matches.first else { throw Failure.unknownName(name, loaded: slots.map(\.name)) }
            guard matches.count == 1 else { throw Failure.ambiguousName(name, ids: matches.map(\.number)) }
            return first.number
        }
    }

    func unload(_ number: Int) throws {
        try lock.withLock {
            let index = try indexOf(number)
            try model.removeAdapter(slots[index].appliedID)
            slots.remove(at: index)
        }
    }

    @discardableResult
    func setScale(_ number: Int, _ scale: Float) throws -> Slot {
        guard scale.isFinite else { throw Failure.invalidScale(scale) }
        return try update(number) { $0.scale = scale }
    }

    @discardableResult
    func setEnabled(_ number: Int, _ enabled: Bool) throws -> Slot {
        try update(number) { $0.enabled = enabled }
    }

    private func update(_ number: Int, _ change: (inout Slot) -> Void) throws -> Slot {
        try lock.withLock {
            let index = try indexOf(number)
            var slot = slots[index]
            change(&slot)
            try model.setScale(slot.enabled ? slot.scale : 0, for: slot.appliedID)
            slots[index] = slot
            return slot
        }
    }

    private func indexOf(_ number: Int) throws -> Int {
        guard let index = slots.firstIndex(where: { $0.number == number }) else {
            throw Failure.unknownSlot(number, loaded: slots.map(\.number))
        }
        return index
    }
}
