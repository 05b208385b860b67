/// Keys and values of one sequence for every layer, planned once for a fixed capacity.
///
/// Layout per layer: `[kvHead][position][headDim]`, so one head's keys form a contiguous `[length × headDim]`
/// matrix that attention multiplies with a single BLAS call.
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    public private(set) var length: Int = 0
    let layers: Int
    let kvHeads: Int
    let headDim: Int
    let keys: [FloatBuffer]
    let values: [FloatBuffer]

    public init(config: ModelConfig, capacity: Int) {
        self.capacity = capacity
        layers = config.numHiddenLayers
        kvHeads = config.keyValueHeads
        headDim = config.headDimension
        let perLayer = kvHeads * capacity * headDim
        keys = (0..<layers).map { _ in FloatBuffer(count: perLayer) }
        values = (0..<layers).map { _ in FloatBuffer(count: perLayer) }
    }

    /// Bytes held by the cache.
    public var byteCount: Int { 2 * layers * kvHeads * capacity * headDim * MemoryLayout<Float>.size }

    public func reset() { length = 0 }

    /// Drops positions from `newLength` on (e.g. to reuse a shared prompt prefix).
    public func truncate(to newLength: Int) { length = min(length, max(0, newLength)) }

    @inline(__always)
    func keyPointer(layer: Int, head: Int, position: Int) -> UnsafeMutablePointer<Float> {
        keys[layer].pointer + (head * capacity + position) * headDim
    }

    @inline(__always)
    func valuePointer(layer: Int, head: Int, position: Int) -> UnsafeMutablePointer<Float> {
        values[layer].pointer + (head * capacity + position) * headDim
    }

    func advance(by count: Int) { length += count }
}
