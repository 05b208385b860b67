import CKernels

/// A linear layer `y = Wx + b` with Hugging Face weight layout `[out, in]`, plus the LoRA patches applied to it
/// and the activation taps listening to it.
///
/// LoRA is a property of the layer, not an edit of the model: applying or removing a patch changes only this
/// object, and the weight as loaded is never written, so removal restores it exactly. Merged patches are folded into
/// a float32 copy of a dense weight; a quantized weight keeps its blocks (rewriting them would re-quantize) and
/// adds its merged patches as the same low-rank product the unmerged ones use.
final class Linear {
    struct Patch {
        let id: AppliedAdapterID
        let weights: LoRAWeights
        var scale: Float
        let mode: LoRAMode
        let scope: LoRAScope
        /// Bᵀ `[rank × out]` for decoding an unmerged low-rank patch: `t·Bᵀ` as a sum of `rank` rows scaled by t,
        /// without a reduction of `rank` products per output. Nil where that reduction is long enough to run well
        /// (ranks above `transposedRankLimit`, such as full-rank controls, whose Bᵀ would copy a whole weight).
        let bTransposed: FloatBuffer?
        var multiplier: Float { weights.scaling * scale }

        static let transposedRankLimit = 64

        init(id: AppliedAdapterID, weights: LoRAWeights, scale: Float, mode: LoRAMode, scope: LoRAScope) {
            self.id = id
            self.weights = weights
            self.scale = scale
            self.mode = mode
            self.scope = scope
            let rank = weights.rank, out = weights.outFeatures
            guard rank <= Self.transposedRankLimit else { bTransposed = nil; return }
            let transposed = FloatBuffer(count: rank * out)
            for o in 0..<out {
                for k in 0..<rank { transposed.pointer[k * out + o] = weights.b.pointer[o * rank + k] }
            }
            bTransposed = transposed
        }
    }

    let name: String
    let inFeatures: Int
    let outFeatures: Int
    /// The weight as loaded.
    let stored: WeightMatrix
    let bias: FloatBuffer?
    private(set) var patches: [Patch] = []
    /// A dense stored weight with the merged patches folded in; nil while none is merged, and always for quantized
    /// weights.
    private var mergedWeight: FloatBuffer?
    private var loraScratch = FloatBuffer(count: 0)
    var taps: [Int: ActivationTapHandler] = [:]

    init(name: String, weight: WeightMatrix, bias: FloatBuffer?) {
        self.name = name
        stored = weight
        self.bias = bias
        inFeatures = weight.inFeatures
        outFeatures = weight.outFeatures
    }

    /// Runs `body` on the weight the layer computes with, merged patches included, as float32 `[out × in]` (a
    /// dequantized copy for quantized weights).
    func withCurrentWeight<Result>(_ body: (UnsafeBufferPointer<Float>) throws -> Result) rethrows -> Result {
        let weight: FloatBuffer
        if let mergedWeight {
            weight = mergedWeight
        } else if let dense = stored.dense {
            weight = dense
        } else {
            weight = stored.dequantized()
            for patch in patches where patch.mode == .merged { fold(patch, into: weight) }
        }
        return try body(UnsafeBufferPointer(start: weight.pointer, count: weight.count))
    }

    /// `y[rows×out] = x[rows×in]·Wᵀ + b + Σ unmerged s·(x·Aᵀ)·Bᵀ`, then taps. `tapSegments` splits packed rows of
    /// independent sequences (each starting at position 0) so taps see each sequence as its own forward pass would.
    /// Patches scoped to generated tokens act only on `generatedRows`.
    func forward(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, firstPosition: Int,
                 generatedRows: Range<Int> = 0..<0, tapSegments: [Range<Int>]? = nil) {
        if let mergedWeight {
            BLAS.linear(x, rows: rows, weight: mergedWeight.pointer, inFeatures: inFeatures, outFeatures: outFeatures, into: y)
        } else {
            stored.multiply(x, rows: rows, into: y)
        }
        if let bias {
            for r in 0..<rows {
                let row = y + r * outFeatures
                for o in 0..<outFeatures { row[o] += bias.pointer[o] }
            }
        }
        for patch in patches where patch.scale != 0 && (patch.mode == .unmerged || stored.isQuantized) {
            let patched = patch.mode == .merged || patch.scope == .allTokens ? 0..<rows : generatedRows
            guard !patched.isEmpty else { continue }
            let rank = patch.weights.rank, count = patched.count
            let input = x + patched.lowerBound * inFeatures, output = y + patched.lowerBound * outFeatures
            if count <= Int(TG_MAX_SIDE_BY_SIDE) {
                // Decoding: the few-row kernels on this thread (OpenBLAS would thread products this small, and its
                // spinning workers compete with the decoding pool). t = s·x·Aᵀ, then per row u = t·Bᵀ, y += u.
                let needed = count * rank + count * outFeatures
                if loraScratch.count < needed { loraScratch = FloatBuffer(count: needed) }
                let t = loraScratch.pointer, u = loraScratch.pointer + count * rank
                tg_rows_times_weight(input, count, patch.weights.a.pointer, inFeatures, 0, rank, t, rank)
                let multiplier = patch.multiplier
                for i in 0..<(count * rank) { t[i] *= multiplier }
                if let bTransposed = patch.bTransposed {
                    for r in 0..<count { tg_weighted_rows(t + r * rank, rank, bTransposed.pointer, outFeatures, u + r * outFeatures) }
                } else {
                    tg_rows_times_weight(t, count, patch.weights.b.pointer, rank, 0, outFeatures, u, outFeatures)
                }
                for i in 0..<(count * outFeatures) { output[i] += u[i] }
                continue
            }
            if loraScratch.count < count * rank { loraScratch = FloatBuffer(count: count * rank) }
            // t = x·Aᵀ  [rows × rank];  y += s · t·Bᵀ  (over the patched rows)
            BLAS.gemm(transposeA: false, transposeB: true, m: count, n: rank, k: inFeatures, alpha: 1,
                      a: input, lda: inFeatures, b: patch.weights.a.pointer, ldb: inFeatures,
                      beta: 0, c: loraScratch.pointer, ldc: rank)
            BLAS.gemm(transposeA: false, transposeB: true, m: count, n: outFeatures, k: rank, alpha: patch.multiplier,
                      a: loraScratch.pointer, lda: rank, b: patch.weights.b.pointer, ldb: rank, beta: 1,
                      c: output, ldc: outFeatures)
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

    /// Folds every merged patch, in order, into a fresh copy of the dense stored weight, so the result never depends
    /// on the history of additions and removals (and is the stored weight itself when none remain).
    private func rebuildMergedWeight() {
        guard let dense = stored.dense else { return }
        let merged = patches.filter { $0.mode == .merged && $0.scale != 0 }
        guard !merged.isEmpty else { mergedWeight = nil; return }
        let weight = mergedWeight ?? FloatBuffer(count: dense.count)
        weight.pointer.update(from: dense.pointer, count: dense.count)
        for patch in merged { fold(patch, into: weight) }
        mergedWeight = weight
    }

    /// `W[out×in] += s · B[out×r] · A[r×in]`.
    private func fold(_ patch: Patch, into weight: FloatBuffer) {
        guard patch.scale != 0 else { return }
        BLAS.gemm(transposeA: false, transposeB: false, m: outFeatures, n: inFeatures, k: patch.weights.rank,
                  alpha: patch.multiplier, a: patch.weights.b.pointer, lda: patch.weights.rank,
                  b: patch.weights.a.pointer, ldb: inFeatures, beta: 1, c: weight.pointer, ldc: inFeatures)
    }
}
