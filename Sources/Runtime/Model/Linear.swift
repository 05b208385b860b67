/// A linear layer `y = Wx + b` with Hugging Face weight layout `[out, in]`, plus the LoRA patches applied to it
/// and the activation taps listening to it.
///
/// LoRA is a property of the layer, not an edit of the model: applying or removing a patch changes only this
/// object, and merged patches keep the original weight so that removal restores it exactly.
final class Linear {
    struct Patch {
        let id: AppliedAdapterID
        let weights: LoRAWeights
        var scale: Float
        let mode: LoRAMode
        let scope: LoRAScope
        var multiplier: Float { weights.scaling * scale }
    }

    let name: String
    let inFeatures: Int
    let outFeatures: Int
    private(set) var weight: FloatBuffer
    let bias: FloatBuffer?
    private(set) var patches: [Patch] = []
    /// The weight before any merged patch; nil while nothing is merged.
    private var unpatchedWeight: FloatBuffer?
    private var loraScratch = FloatBuffer(count: 0)
    var taps: [Int: ActivationTapHandler] = [:]

    init(name: String, weight: FloatBuffer, bias: FloatBuffer?, inFeatures: Int, outFeatures: Int) {
        self.name = name
        self.weight = weight
        self.bias = bias
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    /// `y[rows×out] = x[rows×in]·Wᵀ + b + Σ unmerged s·(x·Aᵀ)·Bᵀ`, then taps. `tapSegments` splits packed rows of
    /// independent sequences (each starting at position 0) so taps see each sequence as its own forward pass would.
    /// Patches scoped to generated tokens act only on `generatedRows`.
    func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, firstPosition: Int,
                 generatedRows: Range<Int> = 0..<0, tapSegments: [Range<Int>]? = nil) {
        BLAS.linear(x, rows: rows, weight: weight.pointer, inFeatures: inFeatures, outFeatures: outFeatures, into: y)
        if let bias {
            for r in 0..<rows {
                let row = y + r * outFeatures
                for o in 0..<outFeatures { row[o] += bias.pointer[o] }
            }
        }
        for patch in patches where patch.mode == .unmerged && patch.scale != 0 {
            let patched = patch.scope == .allTokens ? 0..<rows : generatedRows
            guard !patched.isEmpty else { continue }
            let rank = patch.weights.rank
            if loraScratch.count < patched.count * rank { loraScratch = FloatBuffer(count: patched.count * rank) }
            // t = x·Aᵀ  [rows × rank];  y += s · t·Bᵀ  (over the patched rows)
            BLAS.gemm(transposeA: false, transposeB: true, m: patched.count, n: rank, k: inFeatures, alpha: 1,
                      a: x + patched.lowerBound * inFeatures, lda: inFeatures, b: patch.weights.a.pointer, ldb: inFeatures,
                      beta: 0, c: loraScratch.pointer, ldc: rank)
            BLAS.gemm(transposeA: false, transposeB: true, m: patched.count, n: outFeatures, k: rank, alpha: patch.multiplier,
                      a: loraScratch.pointer, lda: rank, b: patch.weights.b.pointer, ldb: rank, beta: 1,
                      c: y + patched.lowerBound * outFeatures, ldc: outFeatures)
        }
        guard !taps.isEmpty else { return }
        for segment in tapSegments ?? [0..<rows] {
            let batch = ActivationBatch(layer: name, rows: segment.count,
                                        firstPosition: tapSegments == nil ? firstPosition : 0,
                                        input: UnsafeBufferPointer(start: x + segment.lowerBound * inFeatures, count: segment.count * inFeatures),
                                        output: UnsafeBufferPointer(start: y + segment.lowerBound * outFeatures, count: segment.count * outFeatures),
                                        inFeatures: inFeatures, outFeatures: outFeatures)
            for handler in taps.values { handler(batch) }
        }
    }

    func add(_ patch: Patch) {
        patches.append(patch)
        if patch.mode == .merged { rebuildMergedWeight() }
    }

    func remove(_ id: AppliedAdapterID) {
        guard let index = patches.firstIndex(where: { $0.id == id }) else { return }
        let removed = patches.remove(at: index)
        if removed.mode == .merged { rebuildMergedWeight() }
    }

    func setScale(_ scale: Float, for id: AppliedAdapterID) {
        guard let index = patches.firstIndex(where: { $0.id == id }) else { return }
        patches[index].scale = scale
        if patches[index].mode == .merged { rebuildMergedWeight() }
    }

    /// Restores the original weight and re-adds every merged patch in order, so the result never depends on
    /// the history of additions and removals (and is bit-identical to the original when none remain).
    private func rebuildMergedWeight() {
        let merged = patches.filter { $0.mode == .merged }
        if let original = unpatchedWeight {
            weight.pointer.update(from: original.pointer, count: weight.count)
            if merged.isEmpty { unpatchedWeight = nil }
        } else if !merged.isEmpty {
            unpatchedWeight = weight.copy()
        }
        for patch in merged where patch.scale != 0 {
            // W[out×in] += s · B[out×r] · A[r×in]
            BLAS.gemm(transposeA: false, transposeB: false, m: outFeatures, n: inFeatures, k: patch.weights.rank,
                      alpha: patch.multiplier, a: patch.weights.b.pointer, lda: patch.weights.rank,
                      b: patch.weights.a.pointer, ldb: inFeatures, beta: 1, c: weight.pointer, ldc: inFeatures)
        }
    }
}
