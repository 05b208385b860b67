import Foundation

/// A contiguous run of `Float`s that the model reads (and LoRA merging may write).
///
/// Either owns heap memory or views a file mapping (kept alive by `owner`). File mappings are
/// private (copy-on-write), so writing through a mapped buffer never touches the file on disk.
public final class FloatBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int
    private let owner: AnyObject?
    private let ownsMemory: Bool

    /// Zero-filled heap buffer.
    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
        owner = nil
        ownsMemory = true
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A view into memory owned by `owner` (for example a memory-mapped safetensors file).
    public init(viewing pointer: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = pointer
        self.count = count
        self.owner = owner
        ownsMemory = false
    }

    deinit {
        if ownsMemory { pointer.deallocate() }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: pointer, count: count) }
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public func copy() -> FloatBuffer {
        let result = FloatBuffer(count: count)
        result.pointer.update(from: pointer, count: count)
        return result
    }
}
