import Foundation
import Runtime

/// An exchangeable layer's input summarised over N, over H, and over both: `[H × cIn]`, `[N × cIn]`, `[cIn]`.
struct ExchangeableMeans {
    var neuron: [Float]
    var row: [Float]
    var all: [Float]

    /// The means of a stored N×H×cIn tensor, as matrix–vector products with a vector of 1/count (BLAS, threaded):
    /// mean_N over Z seen as N × (H·cIn); mean_H per row n over an H × cIn block; mean_{N,H} over mean_N seen as H × cIn.
    init(of z: UnsafePointer<Float>, rows: Int, width: Int, channels cIn: Int) {
        var meanN = [Float](repeating: 0, count: width * cIn)
        var meanH = [Float](repeating: 0, count: rows * cIn)
        var meanNH = [Float](repeating: 0, count: cIn)
        let overRows = [Float](repeating: 1 / Float(rows), count: rows)
        let overWidth = [Float](repeating: 1 / Float(width), count: width)
        Matrix.meanOfRows(z, rows: rows, columns: width * cIn, weights: overRows, into: &meanN)
        meanH.withUnsafeMutableBufferPointer { meanH in
            guard let meanBase = meanH.baseAddress else { return }
            for n in 0..<rows {
                Matrix.meanOfRows(z + n * width * cIn, rows: width, columns: cIn, weights: overWidth, into: meanBase + n * cIn)
            }
        }
        Matrix.meanOfRows(meanN, rows: width, columns: cIn, weights: overWidth, into: &meanNH)
        self.init(neuron: meanN, row: meanH, all: meanNH)
    }

    init(neuron: [Float], row: [Float], all: [Float]) {
        self.neuron = neuron
        self.row = row
        self.all = all
    }
}

/// `Z ← σ(Z·T1 + mean_N(Z)·T2 + mean_H(Z)·T3 + mean_{N,H}(Z)·T4 + b)` over an N×H×c tensor: the general linear map
/// equivariant to permutations of both N and H (Hartford et al. 2018), then SiLU (training/generator.py
/// `ExchangeableLayer`).
struct ExchangeableLayer: @unchecked Sendable {
    let inputChannels: Int
    let outputChannels: Int
    /// Each `[inputChannels × outputChannels]`.
    let t1, t2, t3, t4: [Float]
    let bias: [Float]

    /// The layer's pooled terms, `mean_N(Z)·T2` `[width × c]`, `mean_H(Z)·T3` `[rows × c]` and
    /// `mean_{N,H}(Z)·T4 + b` `[c]`: everything but `Z·T1`.
    struct Terms {
        let neuron: [Float]
        let row: [Float]
        let all: [Float]
    }

    func terms(_ means: ExchangeableMeans, rows: Int, width: Int) -> Terms {
        let cIn = inputChannels, c = outputChannels
        var termN = [Float](repeating: 0, count: width * c)
        var termH = [Float](repeating: 0, count: rows * c)
        var termNH = [Float](repeating: 0, count: c)
        Matrix.multiply(means.neuron, t2, into: &termN, m: width, k: cIn, n: c)
        Matrix.multiply(means.row, t3, into: &termH, m: rows, k: cIn, n: c)
        Matrix.multiply(means.all, t4, into: &termNH, m: 1, k: cIn, n: c)
        for k in 0..<c { termNH[k] += bias[k] }
        return Terms(neuron: termN, row: termH, all: termNH)
    }

    /// Rows per chunk so that a chunk of `floatsPerRow`-wide rows is about 2 MiB and stays in cache.
    static func chunkRows(rows: Int, floatsPerRow: Int, atLeast: Int) -> Int {
        max(atLeast, min(rows, (2 << 20) / max(1, floatsPerRow * MemoryLayout<Float>.size)))
    }

    /// The whole layer, `input` (rows·width·inputChannels floats) into `out` (rows·width·outputChannels floats), a
    /// cache-sized chunk of rows at a time: the pooled terms are written first, Z·T1 is accumulated onto them by sgemm
    /// with beta = 1 (with one input channel it is an outer product, added in the same pass), then SiLU.
    func forward(_ input: UnsafePointer<Float>, rows: Int, width: Int, into out: UnsafeMutablePointer<Float>, threads: Int) {
        let terms = terms(ExchangeableMeans(of: input, rows: rows, width: width, channels: inputChannels), rows: rows, width: width)
        let stride = width * outputChannels
        let chunkRows = Self.chunkRows(rows: rows, floatsPerRow: stride, atLeast: threads)
        for chunkStart in Swift.stride(from: 0, to: rows, by: chunkRows) {
            let chunk = chunkStart..<min(rows, chunkStart + chunkRows)
            let target = out + chunkStart * stride
            preactivate(chunk, of: input, width: width, terms: terms, into: target, threads: threads)
            Self.forEachBlock(rows: chunk.count, threads: threads) { block in
                VectorMath.siluInPlace(UnsafeMutableBufferPointer(start: target + block.lowerBound * stride, count: block.count * stride))
            }
        }
    }

    /// Rows `chunk` of the layer before SiLU into `target` (chunk.count·width·outputChannels floats): the pooled terms
    /// (with one input channel also Z·T1, an outer product) row by row on `threads` threads, then Z·T1 accumulated by
    /// sgemm with beta = 1, which spares separate zeroing and adding passes.
    private func preactivate(_ chunk: Range<Int>, of input: UnsafePointer<Float>, width: Int, terms: Terms,
                             into target: UnsafeMutablePointer<Float>, threads: Int) {
        let z = input + chunk.lowerBound * width * inputChannels, stride = width * outputChannels
        Self.forEachBlock(rows: chunk.count, threads: threads) { block in
            for local in block {
                fillRow(chunk.lowerBound + local, input: z + local * width * inputChannels, width: width, terms: terms,
                        row: target + local * stride)
            }
        }
        if inputChannels > 1 {
            Matrix.multiply(z, t1, into: target, m: chunk.count * width, k: inputChannels, n: outputChannels, beta: 1)
        }
    }

    /// Row n before Z·T1 and SiLU: `mean_N·T2 + (mean_H·T3 + mean_{N,H}·T4 + b)` per neuron and channel, plus, with
    /// one input channel, Z·T1 itself (an outer product) in front — the order the reference adds them in. `input` is
    /// row n of Z (width·inputChannels floats). Plain loops over contiguous channels, which the optimizer vectorises.
    @inline(__always)
    func fillRow(_ n: Int, input: UnsafePointer<Float>, width: Int, terms: Terms, row: UnsafeMutablePointer<Float>) {
        let c = outputChannels
        withUnsafeTemporaryAllocation(of: Float.self, capacity: c) { rowConstant in
            guard let rowConstant = rowConstant.baseAddress else { return }
            for k in 0..<c { rowConstant[k] = terms.row[n * c + k] + terms.all[k] }
            terms.neuron.withUnsafeBufferPointer { termN in
                t1.withUnsafeBufferPointer { t1 in
                    guard let termN = termN.baseAddress, let t1 = t1.baseAddress else { return }
                    if inputChannels == 1 {
                        for h in 0..<width {
                            let value = input[h], product = row + h * c, neuronTerm = termN + h * c
                            for k in 0..<c { product[k] = value * t1[k] + (neuronTerm[k] + rowConstant[k]) }
                        }
                    } else {
                        for h in 0..<width {
                            let product = row + h * c, neuronTerm = termN + h * c
                            for k in 0..<c { product[k] = neuronTerm[k] + rowConstant[k] }
                        }
                    }
                }
            }
        }
    }

    /// The layer followed by pooling over N, for the last layer of the stack: returns mean_N and max_N of its
    /// output `[width × c]` each. The output is never stored: a chunk of rows at a time (about 2 MiB, so it stays
    /// in cache) is filled with the pooled terms, gets Z·T1 added by sgemm, and is finished (SiLU) and folded into
    /// per-thread sums and maxima in one pass.
    func forwardPooled(_ input: UnsafePointer<Float>, rows: Int, width: Int, workspace: GeneratorWorkspace,
                       threads: Int) -> (mean: [Float], max: [Float]) {
        let c = outputChannels
        let terms = terms(ExchangeableMeans(of: input, rows: rows, width: width, channels: inputChannels), rows: rows, width: width)
        let blocks = max(1, min(threads, rows)), stride = width * c
        let sums = FloatBuffer(count: blocks * stride), maxima = FloatBuffer(count: blocks * stride)
        sums.pointer.initialize(repeating: 0, count: blocks * stride)
        maxima.pointer.initialize(repeating: -.infinity, count: blocks * stride)
        let chunkRows = Self.chunkRows(rows: rows, floatsPerRow: stride, atLeast: blocks)
        let scratch = workspace.buffer(.outputChunk, count: chunkRows * stride).pointer
        for chunkStart in Swift.stride(from: 0, to: rows, by: chunkRows) {
            let chunk = chunkStart..<min(rows, chunkStart + chunkRows)
            preactivate(chunk, of: input, width: width, terms: terms, into: scratch, threads: blocks)
            // Row blocks keep their thread's accumulators across chunks (block i always sums into partial i, rows in
            // order), so the result does not depend on scheduling.
            Self.forEachBlock(rows: chunk.count, threads: blocks) { index, block in
                let sum = sums.pointer + index * stride, maximum = maxima.pointer + index * stride
                for local in block {
                    VectorMath.siluAccumulate(scratch + local * stride, count: stride, sum: sum, maximum: maximum)
                }
            }
        }
        var mean = [Float](repeating: 0, count: stride), largest = [Float](repeating: -.infinity, count: stride)
        for block in 0..<blocks {
            let sum = sums.pointer + block * stride, maximum = maxima.pointer + block * stride
            for i in 0..<stride {
                mean[i] += sum[i]
                largest[i] = max(largest[i], maximum[i])
            }
        }
        let inverseRows = 1 / Float(rows)
        for i in 0..<stride { mean[i] *= inverseRows }
        return (mean, largest)
    }

    /// Runs `body` on `threads` contiguous blocks of `0..<rows` concurrently (blocks never overlap).
    static func forEachBlock(rows: Int, threads: Int, _ body: (Range<Int>) -> Void) {
        forEachBlock(rows: rows, threads: threads) { _, block in body(block) }
    }

    /// The same, also passing each block's index (0..<min(threads, rows)), e.g. to pick its own accumulators.
    static func forEachBlock(rows: Int, threads: Int, _ body: (Int, Range<Int>) -> Void) {
        let blocks = max(1, min(threads, rows))
        if blocks == 1 { body(0, 0..<rows); return }
        DispatchQueue.concurrentPerform(iterations: blocks) { index in
            body(index, (rows * index / blocks)..<(rows * (index + 1) / blocks))
        }
    }
}
