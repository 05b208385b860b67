import Foundation
import Runtime

/// Controls a teleported guard is measured against (DESIGN.md "Evaluation protocol"): patches that keep what the
/// generator's output has besides what it reads from the activations. A guard whose activations matter beats them.
public enum PatchControl: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The generator fed Gaussian noise in place of each layer's activation rows (training's `noise_like`).
    case noiseInputs = "noise-inputs"
    /// Per layer, a random rank-r patch with the Frobenius norm of the teleported one.
    case randomSameNorm = "random-same-norm"
    /// No generator at all: the reference stream is the model itself with every decoder linear layer quantized to
    /// 4 bits (Q4_0), BackdoorLLM's quantization defense under the guard's rule and calibration.
    case quantizedReference = "4-bit-reference"

    public var description: String {
        switch self {
        case .noiseInputs: return "noise inputs"
        case .randomSameNorm: return "random patch"
        case .quantizedReference: return "4-bit reference"
        }
    }

    /// The exact patch that turns each decoder linear layer W into its `type` round trip: ΔW = Q(W) − W, written as a
    /// LoRA of rank min(in, out) (an identity factor on the narrower side), so that the runtime's unmerged adapter
    /// path computes the quantized model's stream beside the original's.
    static func quantizationPatch(of model: LlamaModel, type: GGMLType = .q4_0) throws -> [String: LoRAWeights] {
        var layers: [String: LoRAWeights] = [:]
        for name in model.linearLayerNames {
            guard let (inFeatures, outFeatures) = model.linearShape(name),
                  let delta = try model.withLinearWeight(name, { weight -> [Float] in
                      let rounded = try GGUFQuantization.roundTrip(weight, as: type, tensor: name)
                      return zip(rounded, weight).map { $0 - $1 }
                  }) else { continue }
            let rank = min(inFeatures, outFeatures)
            let identity = FloatBuffer(count: rank * rank)
            for i in 0..<rank { identity.pointer[i * rank + i] = 1 }
            // ΔW is [out × in]: as B (out × r, r = in) with A = I, or as A (r × in, r = out) with B = I.
            let (a, b) = inFeatures <= outFeatures ? (identity, FloatBuffer(delta)) : (FloatBuffer(delta), identity)
            layers[name] = LoRAWeights(a: a, b: b, rank: rank, inFeatures: inFeatures, outFeatures: outFeatures, scaling: 1)
        }
        return layers
    }

    /// Standard normal samples (Box–Muller over a seeded generator).
    static func gaussian(count: Int, seed: UInt64) -> [Float] {
        var random = SeededGenerator(seed: seed)
        var values: [Float] = []
        values.reserveCapacity(count + 1)
        while values.count < count {
            let u1 = max(Double(random.next() >> 11) / Double(1 << 53), .leastNonzeroMagnitude)
            let u2 = Double(random.next() >> 11) / Double(1 << 53)
            let radius = (-2 * log(u1)).squareRoot()
            values.append(Float(radius * cos(2 * .pi * u2)))
            values.append(Float(radius * sin(2 * .pi * u2)))
        }
        return Array(values.prefix(count))
    }

    /// ‖B·A‖_F of a LoRA (scaling included), from the two r×r Gram matrices: ‖BA‖² = Σ (BᵀB) ⊙ (AAᵀ).
    static func frobeniusNorm(_ weights: LoRAWeights) -> Double {
        let r = weights.rank, a = weights.a.pointer, b = weights.b.pointer
        var aGram = [Double](repeating: 0, count: r * r), bGram = [Double](repeating: 0, count: r * r)
        for i in 0..<r {
            for j in 0..<r {
                var sumA = 0.0, sumB = 0.0
                for k in 0..<weights.inFeatures { sumA += Double(a[i * weights.inFeatures + k]) * Double(a[j * weights.inFeatures + k]) }
                for k in 0..<weights.outFeatures { sumB += Double(b[k * r + i]) * Double(b[k * r + j]) }
                aGram[i * r + j] = sumA
                bGram[i * r + j] = sumB
            }
        }
        let squared = zip(aGram, bGram).reduce(0.0) { $0 + $1.0 * $1.1 }
        return max(squared, 0).squareRoot() * Double(abs(weights.scaling))
    }

    /// A random patch per layer with the norm of `adapter`'s (seeded per layer by its position in name order).
    static func randomSameNorm(like adapter: TeleportedAdapter, seed: UInt64) -> TeleportedAdapter {
        var layers: [String: LoRAWeights] = [:]
        for (index, (name, patch)) in adapter.layers.sorted(by: { $0.key < $1.key }).enumerated() {
            let a = gaussian(count: patch.rank * patch.inFeatures, seed: seed &+ UInt64(2 * index))
            let b = gaussian(count: patch.outFeatures * patch.rank, seed: seed &+ UInt64(2 * index + 1))
            let random = LoRAWeights(a: FloatBuffer(a), b: FloatBuffer(b), rank: patch.rank, inFeatures: patch.inFeatures,
                                     outFeatures: patch.outFeatures, scaling: 1)
            let target = frobeniusNorm(patch), found = frobeniusNorm(random)
            let factor = Float(found > 0 ? target / found : 0)
            for i in 0..<(patch.outFeatures * patch.rank) { random.b.pointer[i] *= factor }
            layers[name] = random
        }
        var control = adapter
        control.layers = layers
        return control
    }
}
