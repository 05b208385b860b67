import Runtime

/// The generator's scratch buffers, kept across layers and grown only when a wider layer comes: fresh allocations
/// per layer cost more in page faults than the arithmetic. With two exchangeable layers (the shipped generator) only
/// X is held; other depths also keep a cache-sized output chunk and the middle layers' N×H×c outputs.
public final class GeneratorWorkspace: @unchecked Sendable {
    enum Slot: Int, CaseIterable {
        case normalizedInput  // X / RMS(X), N×H
        case outputChunk      // a chunk of the last layer's output rows before pooling
        case storedA, storedB // the layers' full outputs before the last (layer by layer only)
    }

    private var buffers: [FloatBuffer] = Slot.allCases.map { _ in FloatBuffer(count: 0) }

    /// Threads for the elementwise passes (the matrix products use BLAS's own pool).
    public let threads: Int

    public init(threads: Int = BLAS.threadCount) { self.threads = max(1, threads) }

    /// Bytes the workspace holds now.
    public var bytes: Int { buffers.reduce(0) { $0 + $1.count } * MemoryLayout<Float>.size }

    func buffer(_ slot: Slot, count: Int) -> FloatBuffer {
        if buffers[slot.rawValue].count < count { buffers[slot.rawValue] = FloatBuffer(count: count) }
        return buffers[slot.rawValue]
    }
}
