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

    /// `z`: rows·width·inputChannels floats (row n, neuron h, channel); returns rows·width·outputChannels.
    func forward(_ z: [Float], rows: Int, width: Int) -> [Float] {
        let cIn = inputChannels, c = outputChannels
        var meanN = [Float](repeating: 0, count: width * cIn)
        var meanH = [Float](repeating: 0, count: rows * cIn)
        var meanNH = [Float](repeating: 0, count: cIn)
        z.withUnsafeBufferPointer { z in
            var sumN = [Double](repeating: 0, count: width * cIn)
            var sumAll = [Double](repeating: 0, count: cIn)
            for n in 0..<rows {
                var sumH = [Double](repeating: 0, count: cIn)
                for h in 0..<width {
                    let base = (n * width + h) * cIn
                    for k in 0..<cIn {
                        let v = Double(z[base + k])
                        sumN[h * cIn + k] += v
                        sumH[k] += v
                    }
                }
                for k in 0..<cIn {
                    meanH[n * cIn + k] = Float(sumH[k] / Double(width))
                    sumAll[k] += sumH[k]
                }
            }
            for i in 0..<(width * cIn) { meanN[i] = Float(sumN[i] / Double(rows)) }
            for k in 0..<cIn { meanNH[k] = Float(sumAll[k] / Double(rows * width)) }
        }
        var out = [Float](repeating: 0, count: rows * width * c)
        var termN = [Float](repeating: 0, count: width * c)
        var termH = [Float](repeating: 0, count: rows * c)
        var termNH = [Float](repeating: 0, count: c)
        Matrix.multiply(z, t1, into: &out, m: rows * width, k: cIn, n: c)
        Matrix.multiply(meanN, t2, into: &termN, m: width, k: cIn, n: c)
        Matrix.multiply(meanH, t3, into: &termH, m: rows, k: cIn, n: c)
        Matrix.multiply(meanNH, t4, into: &termNH, m: 1, k: cIn, n: c)
        out.withUnsafeMutableBufferPointer { out in
            termN.withUnsafeBufferPointer { termN in
                termH.withUnsafeBufferPointer { termH in
                    for n in 0..<rows {
                        for h in 0..<width {
                            let base = (n * width + h) * c
                            for k in 0..<c {
                                // Summed in the reference's order: Z·T1 + mean_N + mean_H + mean_NH + b.
                                let pre = out[base + k] + termN[h * c + k] + termH[n * c + k] + termNH[k] + bias[k]
                                out[base + k] = Matrix.silu(pre)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
