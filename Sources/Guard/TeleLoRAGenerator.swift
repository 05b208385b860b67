import Foundation
import Runtime

/// One layer's generated patch: `y = W(I + VᵀU)x + b`, i.e. a LoRA with A = U and B = W·Vᵀ.
public struct TeleLoRAPatch: Sendable {
    /// `[rank × width]`
    public let u: [Float]
    /// `[rank × width]`, after the norm bound.
    public let v: [Float]
    public let rank: Int
    public let width: Int
}

/// The per-neuron pooled activation features of one layer input (mean and max over N of the exchangeable stack's
/// output, `[width × 2·channels]`). Layers fed the same input rows (q/k/v, gate/up) share them.
public struct PooledActivations: Sendable {
    public let features: [Float]
    public let width: Int
}

/// The TeleLoRA generator (Lin et al., arXiv 2503.20228; architecture ours), ported op for op from
/// training/generator.py: activations X (N×H) of a linear layer, its weight W (out×H) and its layer type → U, V (r×H).
public struct TeleLoRAGenerator: Sendable {
    public let spec: TeleLoRASpec
    public let directory: URL
    let exchangeable: [ExchangeableLayer]
    let typeEmbedding: [Float]
    let a1, a1Bias, a2, a3, a2Bias, uHead, vHead: [Float]

    public static let specFile = "spec.json"
    public static let weightsFile = "generator.safetensors"

    /// Loads `spec.json` and `generator.safetensors` from a directory, checking every tensor's presence and shape.
    public static func load(directory: URL) throws -> TeleLoRAGenerator {
        let spec = try TeleLoRASpec.load(from: directory.appendingPathComponent(specFile))
        let expected = spec.expectedTensors
        for (name, shape) in expected.sorted(by: { $0.key < $1.key }) where spec.tensors[name] != shape {
            throw TeleLoRAError.tensorShape(file: spec.file, tensor: "architecture.tensors.\(name)", expected: shape,
                                            found: spec.tensors[name] ?? [])
        }
        if let extra = spec.tensors.keys.sorted().first(where: { expected[$0] == nil }) {
            throw TeleLoRAError.malformed(file: spec.file, field: "architecture.tensors.\(extra)", detail: "not a tensor of this architecture")
        }
        let weightsURL = directory.appendingPathComponent(weightsFile)
        guard FileManager.default.fileExists(atPath: weightsURL.path) else { throw TeleLoRAError.missing(file: weightsURL.path) }
        let file = try SafetensorsFile(url: weightsURL)
        func tensor(_ name: String) throws -> [Float] {
            guard let info = file.tensors[name] else {
                throw TeleLoRAError.tensorShape(file: weightsURL.path, tensor: name, expected: expected[name] ?? [], found: [])
            }
            guard info.shape == expected[name] else {
                throw TeleLoRAError.tensorShape(file: weightsURL.path, tensor: name, expected: expected[name] ?? [], found: info.shape)
            }
            return try file.floats(name)
        }
        var layers: [ExchangeableLayer] = []
        for layer in 0..<spec.exchangeableLayers {
            let prefix = "exchangeable.\(layer)."
            layers.append(ExchangeableLayer(
                inputChannels: layer == 0 ? 1 : spec.channels, outputChannels: spec.channels,
                t1: try tensor(prefix + "t1"), t2: try tensor(prefix + "t2"), t3: try tensor(prefix + "t3"),
                t4: try tensor(prefix + "t4"), bias: try tensor(prefix + "b")))
        }
        return TeleLoRAGenerator(
            spec: spec, directory: directory, exchangeable: layers, typeEmbedding: try tensor("type_embedding"),
            a1: try tensor("a1"), a1Bias: try tensor("a1_bias"), a2: try tensor("a2"), a3: try tensor("a3"),
            a2Bias: try tensor("a2_bias"), uHead: try tensor("u_head"), vHead: try tensor("v_head"))
    }

    /// (U, V) for one layer: `x` is N×H row-major (the layer's input rows), `weight` out×H row-major.
    public func callAsFunction(x: [Float], rows: Int, weight: [Float], outFeatures: Int, layerType: String) throws -> TeleLoRAPatch {
        guard rows > 0, outFeatures > 0, x.count % rows == 0, x.count / rows > 0, weight.count == outFeatures * (x.count / rows) else {
            throw TeleLoRAError.inputShape(detail: "expected X N×H and W out×H, found \(x.count) values in \(rows) rows and W with \(weight.count) values in \(outFeatures) rows")
        }
        let pooled = pool(x: x, rows: rows, width: x.count / rows)
        return try weight.withUnsafeBufferPointer { try patch(pooled, weight: $0, outFeatures: outFeatures, layerType: layerType) }
    }

    /// Steps 1 and 3–4 (the part that depends on X only): RMS-normalise X, run the exchangeable layers over N×H×c,
    /// pool mean and max over N.
    public func pool(x: [Float], rows: Int, width: Int) -> PooledActivations {
        pool(x: x, rows: rows, width: width, workspace: GeneratorWorkspace())
    }

    /// The same, with the buffers taken from `workspace` (reused across layers instead of allocated per call).
    /// Two exchangeable layers (the shipped generator) run fused with the pooling, row by row (`ExchangeablePair`),
    /// and store no N×H×c tensor; other depths run layer by layer, the last one fused with the pooling.
    public func pool(x: [Float], rows: Int, width: Int, workspace: GeneratorWorkspace) -> PooledActivations {
        pool(x: x, rows: rows, width: width, workspace: workspace, fusedPair: true)
    }

    func pool(x: [Float], rows: Int, width: Int, workspace: GeneratorWorkspace, fusedPair: Bool) -> PooledActivations {
        let c = spec.channels, threads = workspace.threads
        let normalized = workspace.buffer(.normalizedInput, count: rows * width).pointer
        let divisor = x.withUnsafeBufferPointer { Matrix.rootMeanSquare($0, epsilon: spec.epsilon) }
        for i in 0..<x.count { normalized[i] = x[i] / divisor }
        let (means, maxima): ([Float], [Float])
        if fusedPair, exchangeable.count == 2 {
            let pair = ExchangeablePair(first: exchangeable[0], last: exchangeable[1])
            (means, maxima) = pair.forwardPooled(normalized, rows: rows, width: width, threads: threads)
        } else {
            var input = UnsafePointer(normalized)
            var slot = GeneratorWorkspace.Slot.storedA
            for layer in exchangeable.dropLast() {
                let out = workspace.buffer(slot, count: rows * width * layer.outputChannels).pointer
                layer.forward(input, rows: rows, width: width, into: out, threads: threads)
                input = UnsafePointer(out)
                slot = slot == .storedA ? .storedB : .storedA
            }
            (means, maxima) = exchangeable[exchangeable.count - 1].forwardPooled(input, rows: rows, width: width,
                                                                                 workspace: workspace, threads: threads)
        }
        var features = [Float](repeating: 0, count: width * 2 * c)
        for h in 0..<width {
            for k in 0..<c {
                features[h * 2 * c + k] = means[h * c + k]
                features[h * 2 * c + c + k] = maxima[h * c + k]
            }
        }
        return PooledActivations(features: features, width: width)
    }

    /// Steps 2 and 4–7: W column statistics (on `threads` threads), type embedding, per-neuron MLP with mean context,
    /// U/V heads, norm bound.
    public func patch(_ pooled: PooledActivations, weight: UnsafeBufferPointer<Float>, outFeatures: Int, layerType: String,
                      threads: Int = 1) throws -> TeleLoRAPatch {
        let width = pooled.width
        guard weight.count == outFeatures * width else {
            throw TeleLoRAError.inputShape(detail: "W has \(weight.count) values, expected \(outFeatures)×\(width)")
        }
        guard let typeIndex = spec.layerTypes.firstIndex(of: layerType) else {
            throw TeleLoRAError.unknownLayerType(file: spec.file, layerType: layerType, known: spec.layerTypes)
        }
        let c = spec.channels, e = spec.typeEmbedding, d = spec.hidden, r = spec.rank
        let statistics = Self.weightColumnStatistics(weight, outFeatures: outFeatures, width: width, epsilon: spec.epsilon, threads: threads)
        let f = spec.featureWidth
        var features = [Float](repeating: 0, count: width * f)
        for h in 0..<width {
            let row = h * f
            for k in 0..<(2 * c) { features[row + k] = pooled.features[h * 2 * c + k] }
            for k in 0..<4 { features[row + 2 * c + k] = statistics[h * 4 + k] }
            for k in 0..<e { features[row + 2 * c + 4 + k] = typeEmbedding[typeIndex * e + k] }
        }
        var h1 = [Float](repeating: 0, count: width * d)
        Matrix.multiply(features, a1, into: &h1, m: width, k: f, n: d)
        for h in 0..<width { for k in 0..<d { h1[h * d + k] += a1Bias[k] } }
        h1.withUnsafeMutableBufferPointer { VectorMath.siluInPlace($0) }

        var meanH1 = [Float](repeating: 0, count: d)
        var sums = [Double](repeating: 0, count: d)
        for h in 0..<width { for k in 0..<d { sums[k] += Double(h1[h * d + k]) } }
        for k in 0..<d { meanH1[k] = Float(sums[k] / Double(width)) }
        var context = [Float](repeating: 0, count: d)
        Matrix.multiply(meanH1, a3, into: &context, m: 1, k: d, n: d)
        var h2 = [Float](repeating: 0, count: width * d)
        Matrix.multiply(h1, a2, into: &h2, m: width, k: d, n: d)
        for k in 0..<d { context[k] += a2Bias[k] }
        for h in 0..<width { for k in 0..<d { h2[h * d + k] += context[k] } }
        h2.withUnsafeMutableBufferPointer { VectorMath.siluInPlace($0) }

        var uT = [Float](repeating: 0, count: width * r), vT = [Float](repeating: 0, count: width * r)
        Matrix.multiply(h2, uHead, into: &uT, m: width, k: d, n: r)
        Matrix.multiply(h2, vHead, into: &vT, m: width, k: d, n: r)
        let uScale = spec.uScale.divisor(width: width)
        for i in 0..<uT.count { uT[i] /= uScale }
        // Bound (step 7): ‖VᵀU‖₂ ≤ ‖U‖_F·‖V‖_F ≤ max_norm.
        let normProduct = Self.frobeniusNorm(uT) * Self.frobeniusNorm(vT)
        let boundScale = spec.maxNorm / max(normProduct, spec.maxNorm)
        var u = [Float](repeating: 0, count: r * width), v = [Float](repeating: 0, count: r * width)
        for h in 0..<width {
            for k in 0..<r {
                u[k * width + h] = uT[h * r + k]
                v[k * width + h] = vT[h * r + k] * boundScale
            }
        }
        return TeleLoRAPatch(u: u, v: v, rank: r, width: width)
    }

    /// Per input neuron j of W/RMS(W): [√mean_i Wn², mean_i Wn, mean_i |Wn|, max_i |Wn|] → `[width × 4]`.
    ///
    /// One pass over the raw W, then each statistic divided by RMS(W) (the scaling commutes with all four), instead
    /// of a pass for the RMS and a second one dividing every element: this runs once per targeted layer over the
    /// whole model's weights. Columns are summed in Float over blocks of rows, where the loop over columns
    /// vectorises, and the blocks in Double; `threads` threads take contiguous ranges of columns (each column's
    /// arithmetic is the same whatever the split, so the result does not depend on it).
    public static func weightColumnStatistics(_ weight: UnsafeBufferPointer<Float>, outFeatures: Int, width: Int, epsilon: Float,
                                              threads: Int = 1) -> [Float] {
        var statistics = [Float](repeating: 0, count: width * 4)
        guard let base = weight.baseAddress, outFeatures > 0, width > 0 else { return statistics }
        let totals = UnsafeMutablePointer<Double>.allocate(capacity: 3 * width)
        let maxima = UnsafeMutablePointer<Float>.allocate(capacity: width)
        defer {
            totals.deallocate()
            maxima.deallocate()
        }
        let squares = totals, sums = totals + width, absolute = totals + 2 * width
        totals.initialize(repeating: 0, count: 3 * width)
        maxima.initialize(repeating: 0, count: width)
        let rowsPerBlock = 64
        ExchangeableLayer.forEachBlock(rows: width, threads: threads) { columns in
            let span = columns.count, first = columns.lowerBound
            let block = UnsafeMutablePointer<Float>.allocate(capacity: 3 * span)
            defer { block.deallocate() }
            let blockSquares = block, blockSums = block + span, blockAbsolute = block + 2 * span, maximum = maxima + first
            for start in stride(from: 0, to: outFeatures, by: rowsPerBlock) {
                block.initialize(repeating: 0, count: 3 * span)
                for i in start..<min(start + rowsPerBlock, outFeatures) {
                    let row = base + i * width + first
                    for j in 0..<span {
                        let w = row[j], magnitude = abs(w)
                        blockSquares[j] += w * w
                        blockSums[j] += w
                        blockAbsolute[j] += magnitude
                        maximum[j] = max(maximum[j], magnitude)
                    }
                }
                for j in 0..<span {
                    squares[first + j] += Double(blockSquares[j])
                    sums[first + j] += Double(blockSums[j])
                    absolute[first + j] += Double(blockAbsolute[j])
                }
            }
        }
        let count = Double(outFeatures)
        var totalSquares: Double = 0
        for j in 0..<width { totalSquares += squares[j] }
        // RMS over all out·H entries (training/generator.py `rms_normalize`).
        let divisor = (Float(totalSquares / (count * Double(width))) + epsilon).squareRoot()
        for j in 0..<width {
            statistics[j * 4] = Float(squares[j] / count).squareRoot() / divisor
            statistics[j * 4 + 1] = Float(sums[j] / count) / divisor
            statistics[j * 4 + 2] = Float(absolute[j] / count) / divisor
            statistics[j * 4 + 3] = maxima[j] / divisor
        }
        return statistics
    }

    static func frobeniusNorm(_ values: [Float]) -> Float {
        var sum: Double = 0
        for v in values { sum += Double(v) * Double(v) }
        return Float(sum.squareRoot())
    }
}
