import Runtime

/// Keeps a uniform random sample of at most `capacity` rows from a stream of rows (Vitter's Algorithm R), so the
/// memory a layer's activations take is bounded however long the probe prompts are.
final class ReservoirSampler {
    let capacity: Int
    let width: Int
    /// `[capacity × width]`; the first `storedRows` rows are valid.
    private(set) var rows: [Float]
    private(set) var seen = 0
    private var random: SeededGenerator

    init(capacity: Int, width: Int, seed: UInt64) {
        self.capacity = capacity
        self.width = width
        rows = [Float](repeating: 0, count: capacity * width)
        random = SeededGenerator(seed: seed)
    }

    var storedRows: Int { min(seen, capacity) }
    var bytesHeld: Int { rows.count * MemoryLayout<Float>.size }

    /// The sample, `[storedRows × width]`.
    var sample: [Float] { Array(rows[0..<(storedRows * width)]) }

    /// Offers `count` rows of `width` floats each.
    func add(_ batch: UnsafeBufferPointer<Float>, count: Int) {
        guard let base = batch.baseAddress else { return }
        rows.withUnsafeMutableBufferPointer { storage in
            guard let storage = storage.baseAddress else { return }
            for r in 0..<count {
                let slot: Int
                if seen < capacity {
                    slot = seen
                } else {
                    let j = Int(random.next() % UInt64(seen + 1))
                    slot = j < capacity ? j : -1
                }
                seen += 1
                if slot >= 0 { (storage + slot * width).update(from: base + r * width, count: width) }
            }
        }
    }
}
