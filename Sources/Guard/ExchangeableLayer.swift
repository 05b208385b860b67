import Foundation

/// `Z ← σ(Z·T1 + mean_N(Z)·T2 + mean_H(Z)·T3 + mean_{N,H}(Z)·T4 + b)` over an N×H×c tensor: the general linear map
/// equivariant to permutations of both N and H (Hartford et al. 2018), then SiLU (training/generator.py
/// `ExchangeableLayer`).
struct ExchangeableLayer: @unchecked Sendable {
    let inputChannels: Int
    let outputChannels: Int
    /// Each `[inputChannels × outputChannels]`.
    let t1, t2, t3, t4: [Float]
    let bias: [Float]

    /// `z`: rows·width·inputChannels floats (row n, neuron h, channel) → `out`: rows·width·outputChannels floats.
    func forward(_ z: UnsafePointer<Float>, rows: Int, width: Int, into out: UnsafeMutablePointer<Float>, threads: Int) {
        let cIn = inputChannels, c = outputChannels
        // Means as matrix–vector products with a vector of 1/count (BLAS, threaded): mean_N over Z seen as
        // N × (H·cIn); mean_H per row n over an H × cIn block; mean_{N,H} over mean_N seen as H × cIn.
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

        var termN = [Float](repeating: 0, count: width * c)
        var termH = [Float](repeating: 0, count: rows * c)
        var termNH = [Float](repeating: 0, count: c)
        Matrix.multiply(meanN, t2, into: &termN, m: width, k: cIn, n: c)
        Matrix.multiply(meanH, t3, into: &termH, m: rows, k: cIn, n: c)
        Matrix.multiply(meanNH, t4, into: &termNH, m: 1, k: cIn, n: c)
        for k in 0..<c { termNH[k] += bias[k] }
        // `out` is first filled with the pooled terms, then Z·T1 is accumulated onto it (sgemm with beta = 1), which
        // saves the separate zeroing and adding passes over the N×H×c tensor. With one input channel Z·T1 is an
        // outer product, added (and SiLU applied) in the same pass. The elementwise passes run on `threads` threads
        // over blocks of rows; BLAS threads itself.
        let single = cIn == 1
        termN.withUnsafeBufferPointer { termN in
            termH.withUnsafeBufferPointer { termH in
                t1.withUnsafeBufferPointer { t1 in
                    Self.forEachBlock(rows: rows, threads: threads) { block in
                        for n in block {
                            let rowTerm = n * c
                            for h in 0..<width {
                                let base = (n * width + h) * c, neuronTerm = h * c
                                if single {
                                    let value = z[n * width + h]
                                    for k in 0..<c { out[base + k] = value * t1[k] + (termN[neuronTerm + k] + (termH[rowTerm + k] + termNH[k])) }
                                } else {
                                    for k in 0..<c { out[base + k] = termN[neuronTerm + k] + (termH[rowTerm + k] + termNH[k]) }
                                }
                            }
                        }
                        if single {
                            VectorMath.siluInPlace(UnsafeMutableBufferPointer(start: out + block.lowerBound * width * c, count: block.count * width * c))
                        }
                    }
                }
            }
        }
        guard !single else { return }
        Matrix.multiply(z, t1, into: out, m: rows * width, k: cIn, n: c, beta: 1)
        Self.forEachBlock(rows: rows, threads: threads) { block in
            VectorMath.siluInPlace(UnsafeMutableBufferPointer(start: out + block.lowerBound * width * c, count: block.count * width * c))
        }
    }

    /// Runs `body` on `threads` contiguous blocks of `0..<rows` concurrently (blocks never overlap).
    static func forEachBlock(rows: Int, threads: Int, _ body: (Range<Int>) -> Void) {
        let blocks = max(1, min(threads, rows))
        if blocks == 1 { body(0..<rows); return }
        DispatchQueue.concurrentPerform(iterations: blocks) { index in
            body((rows * index / blocks)..<(rows * (index + 1) / blocks))
        }
    }
}
