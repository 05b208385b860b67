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

    /// Makes this cache hold what `other` holds (its first `other.length` positions); both must come from the same
    /// model with the same capacity.
    public func copy(from other: KVCache) {
        precondition(other.capacity == capacity && other.layers == layers && other.kvHeads == kvHeads && other.headDim == headDim,
                     "KVCache.copy: caches of different shapes")
        for layer in 0..<layers {
            for head in 0..<kvHeads {
                keyPointer(layer: layer, head: head, position: 0)
                    .update(from: other.keyPointer(layer: layer, head: head, position: 0), count: other.length * headDim)
                valuePointer(layer: layer, head: head, position: 0)
                    .update(from: other.valuePointer(layer: layer, head: head, position: 0), count: other.length * headDim)
            }
        }
        length = other.length
    }

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
