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
        case invalidScale(Float)

        var description: String {
            switch self {
            case .unknownSlot(let number, let loaded):
                return loaded.isEmpty ? "no adapter \(number): none is loaded"
                    : "no adapter \(number): loaded are \(loaded.map(String.init).joined(separator: ", "))"
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
        guard scale.isFinite else { throw Failure.invalidScale(scale) }
        let adapter = try PEFTAdapter.load(from: directory)
        return try lock.withLock {
            let id = try model.applyLoRA(adapter.layers, scale: scale, source: directory.path)
            let slot = Slot(number: nextNumber, name: adapter.name, directory: directory.path, appliedID: id, scale: scale, enabled: true)
            nextNumber += 1
            slots.append(slot)
            return slot
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
