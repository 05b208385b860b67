import Foundation

/// Rotary position embedding in Hugging Face's convention: the head is split in two halves that rotate together
/// (`rotate_half`), not interleaved pairs. Inverse frequencies follow transformers' `ROPE_INIT_FUNCTIONS`
/// (default, linear, llama3), computed in float32 as transformers does so logits match to float tolerance.
struct RotaryEmbedding {
    let headDim: Int
    /// `inv_freq[i]`, i in 0..<headDim/2, already divided by the scaling where the rope type says so.
    let inverseFrequencies: [Float]

    init(headDim: Int, parameters: RopeParameters) {
        self.headDim = headDim
        let half = headDim / 2
        let base = Float(parameters.theta)
        var inv = (0..<half).map { i -> Float in 1 / powf(base, Float(2 * i) / Float(headDim)) }
        switch parameters.scaling {
        case .none:
            break
        case .linear(let factor):
            inv = inv.map { $0 / Float(factor) }
        case .frequencyFactors(let factors):
            inv = zip(inv, factors).map { $0 / $1 }
        case .llama3(let factor, let lowFreqFactor, let highFreqFactor, let original):
            // transformers `_compute_llama3_parameters`: long wavelengths are divided by `factor`, short ones kept,
            // and the band between is interpolated smoothly.
            let oldContext = Float(original)
            let lowWavelength = oldContext / Float(lowFreqFactor)
            let highWavelength = oldContext / Float(highFreqFactor)
            inv = inv.map { frequency in
                let wavelength = 2 * Float.pi / frequency
                var scaled = wavelength > lowWavelength ? frequency / Float(factor) : frequency
                let isMedium = !(wavelength < highWavelength) && !(wavelength > lowWavelength)
                if isMedium {
                    let smooth = (oldContext / wavelength - Float(lowFreqFactor)) / Float(highFreqFactor - lowFreqFactor)
                    scaled = (1 - smooth) * scaled / Float(factor) + smooth * scaled
                }
                return scaled
            }
        }
        inverseFrequencies = inv
    }

    /// Fills `cos` and `sin` (each `headDim/2`) for one position.
    func angles(position: Int, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let p = Float(position)
        for i in 0..<inverseFrequencies.count {
            let angle = p * inverseFrequencies[i]
            cos[i] = Foundation.cos(angle)
            sin[i] = Foundation.sin(angle)
        }
    }

    /// Rotates `heads` consecutive heads of one row in place: `x·cos + rotate_half(x)·sin`.
    @inline(__always)
    func rotate(_ row: UnsafeMutablePointer<Float>, heads: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        let half = headDim / 2
        for h in 0..<heads {
            let x = row + h * headDim
            for i in 0..<half {
                let first = x[i], second = x[i + half]
                x[i] = first * cos[i] - second * sin[i]
                x[i + half] = second * cos[i] + first * sin[i]
            }
        }
    }
}
