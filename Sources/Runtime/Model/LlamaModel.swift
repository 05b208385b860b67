import CKernels
import Foundation

/// The Llama-family decoder (Llama, Mistral, Qwen2): embeddings, then per layer RMSNorm → GQA attention with rotary
/// embeddings and a KV cache → residual → RMSNorm → SwiGLU MLP → residual; final RMSNorm; lm_head. f32 math throughout.
///
/// A model is one mutable object: forward passes, adapter changes and tap changes are serialized by one lock, so an
/// adapter swapped from another thread takes effect between two forward passes (two generated tokens), never during one.
public final class LlamaModel: @unchecked Sendable {
    struct DecoderLayer {
        let inputLayerNorm: FloatBuffer
        let qProj: Linear, kProj: Linear, vProj: Linear, oProj: Linear
        let postAttentionLayerNorm: FloatBuffer
        let gateProj: Linear, upProj: Linear, downProj: Linear
        var linears: [Linear] { [qProj, kProj, vProj, oProj, gateProj, upProj, downProj] }
    }

    public let config: ModelConfig
    public let architecture: Architecture
    let embedTokens: WeightMatrix
    let layers: [DecoderLayer]
    let finalNorm: FloatBuffer
    let lmHead: WeightMatrix
    let rotary: RotaryEmbedding
    let attentionWindow: Int?
    private let linearsByName: [String: Linear]
    /// Linear layer names in forward order.
    public let linearLayerNames: [String]
    /// SHA-256 over the config fields that define shapes and the sorted weight tensor names and shapes: two models
    /// with the same fingerprint accept the same adapters. Recorded by adapters as `base_model_fingerprint`.
    public let fingerprint: String

    let lock = NSLock()
    private var scratch: ForwardScratch?
    private var nextAdapterID = 0
    private var appliedAdapters: [AppliedAdapterID: [Linear]] = [:]
    private var rules: [AppliedAdapterID: any DecodingRule] = [:]
    private var nextTapID = 0

    /// Rows processed per prefill step; bounds scratch memory for long prompts.
    static let prefillChunk = 256

    init(config: ModelConfig, architecture: Architecture, embedTokens: WeightMatrix, layers: [DecoderLayer],
         finalNorm: FloatBuffer, lmHead: WeightMatrix, attentionWindow: Int?, rope: RopeParameters, fingerprint: String) {
        self.config = config
        self.fingerprint = fingerprint
        self.architecture = architecture
        self.embedTokens = embedTokens
        self.layers = layers
        self.finalNorm = finalNorm
        self.lmHead = lmHead
        self.attentionWindow = attentionWindow
        self.rope = rope
        rotary = RotaryEmbedding(headDim: config.headDimension, parameters: rope)
        let all = layers.flatMap(\.linears)
        linearLayerNames = all.map(\.name)
        linearsByName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
    }

    /// The rotary settings in use (from config.json, or a GGUF file's metadata and `rope_freqs`).
    public let rope: RopeParameters

    public var vocabularySize: Int { config.vocabSize }
    public var contextLength: Int { config.contextLength }

    /// A KV cache for one sequence; capacity defaults to the model's context length.
    public func makeCache(capacity: Int? = nil) -> KVCache {
        KVCache(config: config, capacity: min(capacity ?? contextLength, contextLength))
    }

    /// Input and output widths of a linear layer, by Hugging Face name.
    public func linearShape(_ name: String) -> (inFeatures: Int, outFeatures: Int)? {
        linearsByName[name].map { ($0.inFeatures, $0.outFeatures) }
    }

    /// A copy of a linear layer's current weight `[out × in]` (merged adapters included).
    public func linearWeight(_ name: String) -> [Float]? {
        lock.withLock { linearsByName[name]?.withCurrentWeight { Array($0) } }
    }

    /// Runs `body` on a linear layer's current weight `[out × in]` (without copying a float32 weight; a quantized one
    /// is dequantized for the call); nil for an unknown name.
    public func withLinearWeight<Result>(_ name: String, _ body: (UnsafeBufferPointer<Float>) throws -> Result) rethrows -> Result? {
        try lock.withLock {
            guard let linear = linearsByName[name] else { return nil }
            return try linear.withCurrentWeight(body)
        }
    }

    // MARK: Forward

    /// Runs `tokens` after what `cache` already holds and returns logits: the last position's (`vocab` floats), or
    /// every position's (`tokens.count × vocab`) when `allPositions` is set. `phase` says whether `tokens` are prompt
    /// tokens or generated ones, for adapters scoped to generated tokens.
    public func forward(_ tokens: [Int], cache: KVCache, allPositions: Bool = false, phase: ForwardPhase = .prompt) throws -> [Float] {
        guard !tokens.isEmpty else { throw ModelError.emptyInput }
        for id in tokens where id < 0 || id >= config.vocabSize {
            throw ModelError.tokenOutOfRange(id: id, vocabularySize: config.vocabSize)
        }
        guard cache.length + tokens.count <= cache.capacity else {
            throw ModelError.contextOverflow(needed: cache.length + tokens.count, capacity: cache.capacity)
        }
        return lock.withLock {
            var logits = [Float](repeating: 0, count: (allPositions ? tokens.count : 1) * config.vocabSize)
            var start = 0
            while start < tokens.count {
                let chunk = Array(tokens[start..<min(start + Self.prefillChunk, tokens.count)])
                let isLast = start + chunk.count == tokens.count
                let state = scratchFor(rows: chunk.count, capacity: cache.capacity)
                state.generatedRows = phase == .generated ? 0..<chunk.count : 0..<0
                runLayers(chunk, caches: [cache], state: state)
                if allPositions {
                    logits.withUnsafeMutableBufferPointer {
                        computeLogits(state: state, rows: 0..<chunk.count, into: $0.baseAddress! + start * config.vocabSize)
                    }
                } else if isLast {
                    logits.withUnsafeMutableBufferPointer {
                        computeLogits(state: state, rows: (chunk.count - 1)..<chunk.count, into: $0.baseAddress!)
                    }
                }
                start += chunk.count
            }
            return logits
        }
    }

    /// Runs one token for each of several sequences side by side — `tokens[i]` after what `caches[i]` holds, each at
    /// its own cache's next position — and returns each row's logits (`tokens.count × vocab`). The
    /// linear layers run once over all rows, so the weights are read once: decoding the original and the patched
    /// stream of a `DecodingRule` together costs little more than one. `generatedRows` are read as generated tokens
    /// (adapters scoped to generated tokens act on them), the others as prompt tokens.
    public func forward(sideBySide tokens: [Int], caches: [KVCache], generatedRows: Range<Int>) throws -> [Float] {
        guard !tokens.isEmpty else { throw ModelError.emptyInput }
        precondition(tokens.count == caches.count && generatedRows.clamped(to: 0..<tokens.count) == generatedRows,
                     "forward(sideBySide:): one cache per token, generated rows among them")
        for id in tokens where id < 0 || id >= config.vocabSize {
            throw ModelError.tokenOutOfRange(id: id, vocabularySize: config.vocabSize)
        }
        for cache in caches where cache.length + 1 > cache.capacity {
            throw ModelError.contextOverflow(needed: cache.length + 1, capacity: cache.capacity)
        }
        return lock.withLock {
            let state = scratchFor(rows: tokens.count, capacity: caches.map(\.capacity).max() ?? 0)
            state.generatedRows = generatedRows
            runLayers(tokens, caches: caches, state: state)
            var logits = [Float](repeating: 0, count: tokens.count * config.vocabSize)
            logits.withUnsafeMutableBufferPointer { computeLogits(state: state, rows: 0..<tokens.count, into: $0.baseAddress!) }
            return logits
        }
    }

    private func scratchFor(rows: Int, capacity: Int) -> ForwardScratch {
        if let scratch, scratch.rows >= rows, scratch.capacity >= capacity { return scratch }
        let made = ForwardScratch(config: config, rows: max(rows, scratch?.rows ?? 0), capacity: max(capacity, scratch?.capacity ?? 0))
        scratch = made
        return made
    }

    /// Embeds `tokens` and runs every decoder layer, leaving the residual stream in `state.hidden`. `caches`: one
    /// cache the rows follow each other in, or one cache per row (side by side, each at its own length).
    private func runLayers(_ tokens: [Int], caches: [KVCache], state: ForwardScratch) {
        let rows = tokens.count
        let hidden = config.hiddenSize
        let firstPosition = caches[0].length
        let sideBySide = caches.count > 1
        for (r, id) in tokens.enumerated() {
            embedTokens.copyRow(id, into: state.hidden.pointer + r * hidden)
        }
        let half = config.headDimension / 2
        for r in 0..<rows {
            // Side by side, each row sits at its own cache's next position.
            let position = sideBySide ? caches[r].length : firstPosition + r
            rotary.angles(position: position, cos: state.cos.pointer + r * half, sin: state.sin.pointer + r * half)
        }
        for (index, layer) in layers.enumerated() {
            rmsNorm(state.hidden.pointer, rows: rows, weight: layer.inputLayerNorm.pointer, into: state.normed.pointer)
            attention(layer: layer, index: index, rows: rows, caches: caches, state: state)
            add(state.projected.pointer, into: state.hidden.pointer, count: rows * hidden)
            rmsNorm(state.hidden.pointer, rows: rows, weight: layer.postAttentionLayerNorm.pointer, into: state.normed.pointer)
            mlp(layer: layer, rows: rows, firstPosition: firstPosition, state: state)
            add(state.projected.pointer, into: state.hidden.pointer, count: rows * hidden)
        }
        if sideBySide {
            for cache in caches { cache.advance(by: 1) }
        } else {
            caches[0].advance(by: rows)
        }
    }

    /// GQA causal attention over the cache plus the new rows; result (after o_proj) in `state.projected`. Side by
    /// side (one cache per row), each row attends over its own cache.
    private func attention(layer: DecoderLayer, index: Int, rows: Int, caches: [KVCache], state: ForwardScratch) {
        let headDim = config.headDimension
        let heads = config.numAttentionHeads
        let kvHeads = config.keyValueHeads
        let firstPosition = caches[0].length
        let sideBySide = caches.count > 1
        let qWidth = heads * headDim, kvWidth = kvHeads * headDim
        let half = headDim / 2

        layer.qProj.forward(state.normed.pointer, rows: rows, into: state.query.pointer, firstPosition: firstPosition, generatedRows: state.generatedRows)
        layer.kProj.forward(state.normed.pointer, rows: rows, into: state.key.pointer, firstPosition: firstPosition, generatedRows: state.generatedRows)
        layer.vProj.forward(state.normed.pointer, rows: rows, into: state.value.pointer, firstPosition: firstPosition, generatedRows: state.generatedRows)

        for r in 0..<rows {
            let cos = state.cos.pointer + r * half, sin = state.sin.pointer + r * half
            rotary.rotate(state.query.pointer + r * qWidth, heads: heads, cos: cos, sin: sin)
            rotary.rotate(state.key.pointer + r * kvWidth, heads: kvHeads, cos: cos, sin: sin)
            let cache = sideBySide ? caches[r] : caches[0]
            let position = sideBySide ? cache.length : firstPosition + r
            for g in 0..<kvHeads {
                cache.keyPointer(layer: index, head: g, position: position)
                    .update(from: state.key.pointer + r * kvWidth + g * headDim, count: headDim)
                cache.valuePointer(layer: index, head: g, position: position)
                    .update(from: state.value.pointer + r * kvWidth + g * headDim, count: headDim)
            }
        }
        if sideBySide {
            for r in 0..<rows {
                attend(layer: index, cache: caches[r], rows: 1, firstPosition: caches[r].length,
                       query: state.query.pointer + r * qWidth, output: state.attended.pointer + r * qWidth, scores: state.scores.pointer)
            }
        } else {
            attend(layer: index, cache: caches[0], rows: rows, firstPosition: firstPosition,
                   query: state.query.pointer, output: state.attended.pointer, scores: state.scores.pointer)
        }
        layer.oProj.forward(state.attended.pointer, rows: rows, into: state.projected.pointer, firstPosition: firstPosition, generatedRows: state.generatedRows)
    }

    /// Softmax attention of `rows` consecutive query rows (positions `firstPosition...`, already in `cache`) over
    /// `cache`, written to `output` (rows × heads·headDim).
    private func attend(layer index: Int, cache: KVCache, rows: Int, firstPosition: Int, query queries: UnsafePointer<Float>,
                        output outputs: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>) {
        let headDim = config.headDimension
        let heads = config.numAttentionHeads
        let groupSize = heads / config.keyValueHeads
        let qWidth = heads * headDim
        let length = firstPosition + rows
        let scale = 1 / Float(headDim).squareRoot()
        for h in 0..<heads {
            let g = h / groupSize
            let keys = cache.keyPointer(layer: index, head: g, position: 0)
            let values = cache.valuePointer(layer: index, head: g, position: 0)
            let query = queries + h * headDim
            let output = outputs + h * headDim
            if rows == 1 {
                // One position: the single-threaded kernels (OpenBLAS would thread these small products and spin).
                tg_rows_times_weight(query, 1, keys, headDim, 0, length, scores, length)
                for l in 0..<length { scores[l] *= scale }
            } else {
                BLAS.gemm(transposeA: false, transposeB: true, m: rows, n: length, k: headDim, alpha: scale,
                          a: query, lda: qWidth, b: keys, ldb: headDim, beta: 0, c: scores, ldc: length)
            }
            for r in 0..<rows {
                let position = firstPosition + r
                let lowest = attentionWindow.map { max(0, position - $0 + 1) } ?? 0
                softmaxMasked(scores + r * length, visible: lowest...position, length: length)
            }
            if rows == 1 {
                tg_weighted_rows(scores, length, values, headDim, output)
            } else {
                BLAS.gemm(transposeA: false, transposeB: false, m: rows, n: headDim, k: length, alpha: 1,
                          a: scores, lda: length, b: values, ldb: headDim, beta: 0, c: output, ldc: qWidth)
            }
        }
    }

    /// SwiGLU: `down(silu(gate(x)) · up(x))`, result in `state.projected`.
    private func mlp(layer: DecoderLayer, rows: Int, firstPosition: Int, state: ForwardScratch) {
        layer.gateProj.forward(state.normed.pointer, rows: rows, into: state.gate.pointer, firstPosition: firstPosition, generatedRows: state.generatedRows)
        layer.upProj.forward(state.normed.pointer, rows: rows, into: state.up.pointer, firstPosition: firstPosition, generatedRows: state.generatedRows)
        let gate = state.gate.pointer, up = state.up.pointer
        for i in 0..<(rows * config.intermediateSize) {
            let g = gate[i]
            gate[i] = g / (1 + expf(-g)) * up[i]
        }
        layer.downProj.forward(gate, rows: rows, into: state.projected.pointer, firstPosition: firstPosition, generatedRows: state.generatedRows)
    }

    private func computeLogits(state: ForwardScratch, rows: Range<Int>, into logits: UnsafeMutablePointer<Float>) {
        let hidden = config.hiddenSize
        let first = state.hidden.pointer + rows.lowerBound * hidden
        rmsNorm(first, rows: rows.count, weight: finalNorm.pointer, into: state.normed.pointer)
        lmHead.multiply(state.normed.pointer, rows: rows.count, into: logits)
    }

    /// transformers' LlamaRMSNorm: `w · x / √(mean(x²) + ε)` per row.
    func rmsNorm(_ x: UnsafePointer<Float>, rows: Int, weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let width = config.hiddenSize
        let epsilon = config.normEpsilon
        for r in 0..<rows {
            let row = x + r * width, out = y + r * width
            var sum: Float = 0
            for i in 0..<width { sum += row[i] * row[i] }
            let inverse = 1 / (sum / Float(width) + epsilon).squareRoot()
            for i in 0..<width { out[i] = weight[i] * (row[i] * inverse) }
        }
    }

    func add(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { target[i] += source[i] }
    }

    /// Softmax over `visible` columns of one score row; the others become 0.
    func softmaxMasked(_ row: UnsafeMutablePointer<Float>, visible: ClosedRange<Int>, length: Int) {
        var maximum = -Float.infinity
        for i in visible { maximum = max(maximum, row[i]) }
        var sum: Float = 0
        for i in visible {
            let e = expf(row[i] - maximum)
            row[i] = e
            sum += e
        }
        let inverse = 1 / sum
        for i in 0..<visible.lowerBound { row[i] = 0 }
        for i in visible { row[i] *= inverse }
        if visible.upperBound + 1 < length { for i in (visible.upperBound + 1)..<length { row[i] = 0 } }
    }

    // MARK: Adapters

    /// Applies per-layer LoRA weights (keyed by Hugging Face module name). Shapes and names are checked first,
    /// so a refused adapter changes nothing. An adapter scoped to generated tokens must stay unmerged: merged
    /// weights serve every pass alike.
    /// `rule`: generation decodes by that rule while the adapter is active (scope `.generatedTokens` only).
    public func applyLoRA(_ weights: [String: LoRAWeights], scale: Float = 1, mode: LoRAMode = .unmerged,
                          scope: LoRAScope = .allTokens, rule: (any DecodingRule)? = nil,
                          source: String = "adapter") throws -> AppliedAdapterID {
        try lock.withLock { try applyLocked(weights, scale: scale, mode: mode, scope: scope, rule: rule, source: source) }
    }

    /// Applies `weights` and removes `replaced` in one step under the lock, so no forward pass (no generated token)
    /// ever sees both adapters or neither. If the new adapter is refused, `replaced` stays applied.
    public func replaceLoRA(_ replaced: AppliedAdapterID?, with weights: [String: LoRAWeights], scale: Float = 1,
                            mode: LoRAMode = .unmerged, scope: LoRAScope = .allTokens, rule: (any DecodingRule)? = nil,
                            source: String = "adapter") throws -> AppliedAdapterID {
        try lock.withLock {
            if let replaced, appliedAdapters[replaced] == nil { throw ModelError.unknownAdapter(replaced) }
            let id = try applyLocked(weights, scale: scale, mode: mode, scope: scope, rule: rule, source: source)
            if let replaced { removeLocked(replaced) }
            return id
        }
    }

    private func applyLocked(_ weights: [String: LoRAWeights], scale: Float, mode: LoRAMode, scope: LoRAScope,
                             rule: (any DecodingRule)?, source: String) throws -> AppliedAdapterID {
        if mode == .merged && scope == .generatedTokens { throw ModelError.mergedScopedAdapter(source: source) }
        if rule != nil && scope != .generatedTokens { throw ModelError.ruleWithoutGeneratedScope(source: source) }
        for (name, patch) in weights.sorted(by: { $0.key < $1.key }) {
            guard let linear = linearsByName[name] else {
                throw AdapterError.unknownTarget(file: source, tensor: name, example: linearLayerNames.first ?? "")
            }
            guard patch.inFeatures == linear.inFeatures, patch.outFeatures == linear.outFeatures else {
                throw AdapterError.shapeMismatch(file: source, tensor: name,
                                                 expected: [linear.outFeatures, linear.inFeatures],
                                                 found: [patch.outFeatures, patch.inFeatures])
            }
        }
        let id = AppliedAdapterID(rawValue: nextAdapterID)
        nextAdapterID += 1
        var touched: [Linear] = []
        for name in linearLayerNames {
            guard let patch = weights[name], let linear = linearsByName[name] else { continue }
            linear.add(Linear.Patch(id: id, weights: patch, scale: scale, mode: mode, scope: scope))
            touched.append(linear)
        }
        appliedAdapters[id] = touched
        if let rule { rules[id] = rule }
        return id
    }

    private func removeLocked(_ id: AppliedAdapterID) {
        guard let linears = appliedAdapters.removeValue(forKey: id) else { return }
        for linear in linears { linear.remove(id) }
        rules[id] = nil
    }

    /// Changes an applied adapter's scale (0 disables it without removing it).
    public func setScale(_ scale: Float, for id: AppliedAdapterID) throws {
        try lock.withLock {
            guard let linears = appliedAdapters[id] else { throw ModelError.unknownAdapter(id) }
            for linear in linears { linear.setScale(scale, for: id) }
        }
    }

    /// Removes an adapter; merged weights are restored exactly.
    public func removeAdapter(_ id: AppliedAdapterID) throws {
        try lock.withLock {
            guard appliedAdapters[id] != nil else { throw ModelError.unknownAdapter(id) }
            removeLocked(id)
        }
    }

    /// Whether an active adapter acts on generated tokens only: generated tokens' keys and values then differ from
    /// those a prompt pass over the same tokens computes, so a cache holding them must not be reused as a prompt.
    public var hasGeneratedTokenAdapter: Bool {
        lock.withLock {
            appliedAdapters.values.contains { $0.contains { $0.patches.contains { $0.scope == .generatedTokens && $0.scale != 0 } } }
        }
    }

    /// The decoding rule of the active adapters: that of the most recently applied adapter (scale ≠ 0) that has one;
    /// nil when generation simply decodes the model.
    public var decodingRule: (any DecodingRule)? {
        lock.withLock {
            rules.filter { id, _ in appliedAdapters[id]?.contains { $0.patches.contains { $0.id == id && $0.scale != 0 } } ?? false }
                .max { $0.key.rawValue < $1.key.rawValue }?.value
        }
    }

    public var appliedAdapterIDs: [AppliedAdapterID] {
        lock.withLock { appliedAdapters.keys.sorted { $0.rawValue < $1.rawValue } }
    }

    // MARK: Taps

    /// Subscribes to a linear layer's input and output rows, delivered synchronously during forward passes.
    public func addTap(layer name: String, _ handler: @escaping ActivationTapHandler) throws -> ActivationTapToken {
        try lock.withLock {
            guard let linear = linearsByName[name] else {
                throw ModelError.unknownLayer(name: name, example: linearLayerNames.first ?? "")
            }
            let token = ActivationTapToken(layer: name, id: nextTapID)
            nextTapID += 1
            linear.taps[token.id] = handler
            return token
        }
    }

    public func removeTap(_ token: ActivationTapToken) {
        lock.withLock { _ = linearsByName[token.layer]?.taps.removeValue(forKey: token.id) }
    }
}

/// Working memory of a forward pass, planned once and reused while large enough.
final class ForwardScratch {
    let rows: Int
    let capacity: Int
    let hidden, normed, projected, query, key, value, attended, gate, up, scores, cos, sin: FloatBuffer
    /// The rows of the pass in progress that are generated tokens (adapters scoped to generated tokens act on them).
    var generatedRows: Range<Int> = 0..<0

    init(config: ModelConfig, rows: Int, capacity: Int) {
        self.rows = rows
        self.capacity = capacity
        let headDim = config.headDimension
        hidden = FloatBuffer(count: rows * config.hiddenSize)
        normed = FloatBuffer(count: rows * config.hiddenSize)
        projected = FloatBuffer(count: rows * config.hiddenSize)
        query = FloatBuffer(count: rows * config.numAttentionHeads * headDim)
        key = FloatBuffer(count: rows * config.keyValueHeads * headDim)
        value = FloatBuffer(count: rows * config.keyValueHeads * headDim)
        attended = FloatBuffer(count: rows * config.numAttentionHeads * headDim)
        gate = FloatBuffer(count: rows * config.intermediateSize)
        up = FloatBuffer(count: rows * config.intermediateSize)
        scores = FloatBuffer(count: rows * capacity)
        cos = FloatBuffer(count: rows * headDim / 2)
        sin = FloatBuffer(count: rows * headDim / 2)
    }
}
