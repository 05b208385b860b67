import Foundation

extension LlamaModel {
    /// Rows per packed pass by default: as many as fit a 64 MiB scratch (about 10k floats a row for a 100M model,
    /// 50k for an 8B one), between 64 and 1024 — from a few hundred rows on, BLAS runs near its peak.
    public var packedRowsPerPass: Int {
        let floatsPerRow = 5 * config.hiddenSize + 2 * config.numAttentionHeads * config.headDimension
            + 2 * config.keyValueHeads * config.headDimension + 2 * config.intermediateSize + config.headDimension
        return min(1024, max(64, (64 << 20) / (4 * max(1, floatsPerRow))))
    }

    /// Runs independent sequences through every decoder layer for their activations only: each sequence starts at
    /// position 0 and attends only within itself, and taps see its rows exactly as a forward pass of it alone would
    /// deliver them (same rows, same order), but no logits and no KV cache are computed.
    ///
    /// Consecutive sequences are packed into passes of up to `maxRowsPerPass` rows (a longer sequence runs alone),
    /// so every linear layer is one large matrix product instead of one small product per sequence: probe prompts
    /// of ~40 tokens run several times faster packed than one by one. `passCompleted` gets the number of sequences
    /// run so far after each pass.
    public func runForActivations(_ sequences: [[Int]], maxRowsPerPass: Int? = nil,
                                  passCompleted: (Int) -> Void = { _ in }) throws {
        for tokens in sequences {
            guard !tokens.isEmpty else { throw ModelError.emptyInput }
            for id in tokens where id < 0 || id >= config.vocabSize {
                throw ModelError.tokenOutOfRange(id: id, vocabularySize: config.vocabSize)
            }
            guard tokens.count <= contextLength else {
                throw ModelError.contextOverflow(needed: tokens.count, capacity: contextLength)
            }
        }
        var passes: [[[Int]]] = []
        var rowsInPass = 0
        for tokens in sequences {
            if passes.isEmpty || rowsInPass + tokens.count > max(1, maxRowsPerPass ?? packedRowsPerPass) {
                passes.append([])
                rowsInPass = 0
            }
            passes[passes.count - 1].append(tokens)
            rowsInPass += tokens.count
        }
        let largestPass = passes.map { $0.reduce(0) { $0 + $1.count } }.max() ?? 0
        let longest = sequences.map(\.count).max() ?? 0
        guard largestPass > 0 else { return }
        lock.withLock {
            // Scratch for this call only: a packed pass is far wider than a decoding step, and keeping its buffers
            // on the model would hold tens of MB for nothing once probing is done.
            let state = ForwardScratch(config: config, rows: largestPass, capacity: longest)
            var completed = 0
            for pass in passes {
                runPacked(pass, state: state)
                completed += pass.count
                passCompleted(completed)
            }
        }
    }

    /// One packed pass: embeddings, then every decoder layer over all rows; attention per sequence.
    private func runPacked(_ sequences: [[Int]], state: ForwardScratch) {
        let hidden = config.hiddenSize
        let half = config.headDimension / 2
        var segments: [Range<Int>] = []
        var row = 0
        for tokens in sequences {
            for (position, id) in tokens.enumerated() {
                embedTokens.copyRow(id, into: state.hidden.pointer + (row + position) * hidden)
                rotary.angles(position: position, cos: state.cos.pointer + (row + position) * half,
                              sin: state.sin.pointer + (row + position) * half)
            }
            segments.append(row..<(row + tokens.count))
            row += tokens.count
        }
        let rows = row
        for layer in layers {
            rmsNorm(state.hidden.pointer, rows: rows, weight: layer.inputLayerNorm.pointer, into: state.normed.pointer)
            packedAttention(layer: layer, rows: rows, segments: segments, state: state)
            add(state.projected.pointer, into: state.hidden.pointer, count: rows * hidden)
            rmsNorm(state.hidden.pointer, rows: rows, weight: layer.postAttentionLayerNorm.pointer, into: state.normed.pointer)
            layer.gateProj.forward(state.normed.pointer, rows: rows, into: state.gate.pointer, firstPosition: 0, tapSegments: segments)
            layer.upProj.forward(state.normed.pointer, rows: rows, into: state.up.pointer, firstPosition: 0, tapSegments: segments)
            let gate = state.gate.pointer, up = state.up.pointer
            for i in 0..<(rows * config.intermediateSize) {
                let g = gate[i]
                gate[i] = g / (1 + expf(-g)) * up[i]
            }
            layer.downProj.forward(gate, rows: rows, into: state.projected.pointer, firstPosition: 0, tapSegments: segments)
            add(state.projected.pointer, into: state.hidden.pointer, count: rows * hidden)
        }
    }

    /// Causal GQA attention within each segment, reading keys and values straight from the packed projections
    /// (no cache); result (after o_proj) in `state.projected`.
    private func packedAttention(layer: DecoderLayer, rows: Int, segments: [Range<Int>], state: ForwardScratch) {
        let headDim = config.headDimension
        let heads = config.numAttentionHeads
        let kvHeads = config.keyValueHeads
        let groupSize = heads / kvHeads
        let qWidth = heads * headDim, kvWidth = kvHeads * headDim
        let half = headDim / 2

        layer.qProj.forward(state.normed.pointer, rows: rows, into: state.query.pointer, firstPosition: 0, tapSegments: segments)
        layer.kProj.forward(state.normed.pointer, rows: rows, into: state.key.pointer, firstPosition: 0, tapSegments: segments)
        layer.vProj.forward(state.normed.pointer, rows: rows, into: state.value.pointer, firstPosition: 0, tapSegments: segments)
        for r in 0..<rows {
            let cos = state.cos.pointer + r * half, sin = state.sin.pointer + r * half
            rotary.rotate(state.query.pointer + r * qWidth, heads: heads, cos: cos, sin: sin)
            rotary.rotate(state.key.pointer + r * kvWidth, heads: kvHeads, cos: cos, sin: sin)
        }

        let scale = 1 / Float(headDim).squareRoot()
        let scores = state.scores.pointer
        for segment in segments {
            let length = segment.count, first = segment.lowerBound
            for h in 0..<heads {
                let g = h / groupSize
                let query = state.query.pointer + first * qWidth + h * headDim
                let keys = state.key.pointer + first * kvWidth + g * headDim
                let values = state.value.pointer + first * kvWidth + g * headDim
                BLAS.gemm(transposeA: false, transposeB: true, m: length, n: length, k: headDim, alpha: scale,
                          a: query, lda: qWidth, b: keys, ldb: kvWidth, beta: 0, c: scores, ldc: length)
                for position in 0..<length {
                    let lowest = attentionWindow.map { max(0, position - $0 + 1) } ?? 0
                    softmaxMasked(scores + position * length, visible: lowest...position, length: length)
                }
                BLAS.gemm(transposeA: false, transposeB: false, m: length, n: headDim, k: length, alpha: 1,
                          a: scores, lda: length, b: values, ldb: kvWidth, beta: 0,
                          c: state.attended.pointer + first * qWidth + h * headDim, ldc: qWidth)
            }
        }
        layer.oProj.forward(state.attended.pointer, rows: rows, into: state.projected.pointer, firstPosition: 0, tapSegments: segments)
    }
}
