import CKernels
import Foundation
import Runtime

/// A stack of exactly two exchangeable layers (the first reading X's one channel) fused with the pooling over N,
/// one row of X at a time in the C kernels: the layers' N×H×c tensors (tens of MB per layer input of a 100M model)
/// are never written. Two passes over X: the first computes the first layer's output only for its means (which the
/// second layer's pooled terms need), the second recomputes it, applies the second layer and pools.
struct ExchangeablePair {
    let first: ExchangeableLayer
    let last: ExchangeableLayer

    init(first: ExchangeableLayer, last: ExchangeableLayer) {
        precondition(first.inputChannels == 1 && last.inputChannels == first.outputChannels && last.outputChannels == first.outputChannels,
                     "an exchangeable pair reads one channel and keeps c channels")
        self.first = first
        self.last = last
    }

    /// mean_N and max_N of the second layer's output, `[width × c]` each, for X (`rows × width`, normalised).
    func forwardPooled(_ x: UnsafePointer<Float>, rows: Int, width: Int, threads: Int) -> (mean: [Float], max: [Float]) {
        let c = first.outputChannels, stride = width * c
        let blocks = max(1, min(threads, rows))
        let firstTerms = first.terms(ExchangeableMeans(of: x, rows: rows, width: width, channels: 1), rows: rows, width: width)
        let firstConstants = Self.rowConstants(firstTerms, rows: rows, channels: c)

        // Pass 1: the first layer's means. Each thread sums its block of rows into its own column sums; the row sums
        // are per row. The partial sums are added in block order, so the result does not depend on scheduling.
        let columnSums = FloatBuffer(count: blocks * stride)
        columnSums.pointer.initialize(repeating: 0, count: blocks * stride)
        var rowSums = [Float](repeating: 0, count: rows * c)
        rowSums.withUnsafeMutableBufferPointer { rowSums in
            guard let rowSums = rowSums.baseAddress else { return }
            ExchangeableLayer.forEachBlock(rows: rows, threads: blocks) { index, block in
                for n in block {
                    tg_exchangeable_first_row(x + n * width, width, c, first.t1, firstTerms.neuron, firstConstants.pointer + n * c,
                                              columnSums.pointer + index * stride, rowSums + n * c)
                }
            }
        }
        var meanN = Self.sumOfBlocks(columnSums, blocks: blocks, count: stride)
        let inverseRows = 1 / Float(rows), inverseWidth = 1 / Float(width)
        for i in 0..<stride { meanN[i] *= inverseRows }
        let meanH = rowSums.map { $0 * inverseWidth }
        var meanNH = [Float](repeating: 0, count: c)
        for h in 0..<width { for k in 0..<c { meanNH[k] += meanN[h * c + k] } }
        for k in 0..<c { meanNH[k] *= inverseWidth }
        let lastTerms = last.terms(ExchangeableMeans(neuron: meanN, row: meanH, all: meanNH), rows: rows, width: width)
        let lastConstants = Self.rowConstants(lastTerms, rows: rows, channels: c)

        // Pass 2: both layers per row, pooled into per-thread sums and maxima.
        let sums = FloatBuffer(count: blocks * stride), maxima = FloatBuffer(count: blocks * stride)
        sums.pointer.initialize(repeating: 0, count: blocks * stride)
        maxima.pointer.initialize(repeating: -.infinity, count: blocks * stride)
        ExchangeableLayer.forEachBlock(rows: rows, threads: blocks) { index, block in
            for n in block {
                tg_exchangeable_pair_row(x + n * width, width, c, first.t1, firstTerms.neuron, firstConstants.pointer + n * c,
                                         last.t1, lastTerms.neuron, lastConstants.pointer + n * c,
                                         sums.pointer + index * stride, maxima.pointer + index * stride)
            }
        }
        var mean = Self.sumOfBlocks(sums, blocks: blocks, count: stride)
        for i in 0..<stride { mean[i] *= inverseRows }
        var largest = [Float](repeating: -.infinity, count: stride)
        for block in 0..<blocks {
            let maximum = maxima.pointer + block * stride
            for i in 0..<stride { largest[i] = max(largest[i], maximum[i]) }
        }
        return (mean, largest)
    }

    /// Per row n, `mean_H·T3 + (mean_{N,H}·T4 + b)`: what `ExchangeableLayer.fillRow` adds to every neuron of row n.
    static func rowConstants(_ terms: ExchangeableLayer.Terms, rows: Int, channels c: Int) -> FloatBuffer {
        let constants = FloatBuffer(count: rows * c)
        for n in 0..<rows { for k in 0..<c { constants.pointer[n * c + k] = terms.row[n * c + k] + terms.all[k] } }
        return constants
    }

    static func sumOfBlocks(_ buffer: FloatBuffer, blocks: Int, count: Int) -> [Float] {
        var total = [Float](repeating: 0, count: count)
        for block in 0..<blocks {
            let part = buffer.pointer + block * count
            for i in 0..<count { total[i] += part[i] }
        }
        return total
    }
}
