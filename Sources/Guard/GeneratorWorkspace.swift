import Runtime

/// The two N×H×c buffers the generator's exchangeable layers ping-pong between, kept across layers and grown only
/// when a wider layer comes: fresh 100 MB allocations per layer cost more in page faults than the arithmetic.
public final class GeneratorWorkspace: @unchecked Sendable {
    private var first = FloatBuffer(count: 0)
    private var second = FloatBuffer(count: 0)

    /// Threads for the elementwise passes (the matrix products use BLAS's own pool).
    public let threads: Int

    public init(threads: Int = BLAS.threadCount) { self.threads = max(1, threads) }

    /// Bytes the workspace holds now.
    public var bytes: Int { (first.count + second.count) * MemoryLayout<Float>.size }

    func buffers(count: Int) -> (FloatBuffer, FloatBuffer) {
        if first.count < count {
            first = FloatBuffer(count: count)
            second = FloatBuffer(count: count)
        }
        return (first, second)
    }
}
