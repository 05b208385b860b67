import Foundation
import XCTest

@testable import Guard
@testable import Runtime

/// The controls' patches: a random patch has the teleported one's Frobenius norm layer by layer (checked against the
/// dense product), and the noise is standard normal.
final class PatchControlTests: XCTestCase {
    func dense(_ weights: LoRAWeights) -> [Double] {
        var product = [Double](repeating: 0, count: weights.outFeatures * weights.inFeatures)
        for o in 0..<weights.outFeatures {
            for i in 0..<weights.inFeatures {
                var sum = 0.0
                for k in 0..<weights.rank { sum += Double(weights.b.pointer[o * weights.rank + k]) * Double(weights.a.pointer[k * weights.inFeatures + i]) }
                product[o * weights.inFeatures + i] = sum * Double(weights.scaling)
            }
        }
        return product
    }

    func testFrobeniusNormEqualsTheDenseProducts() {
        let weights = LoRAWeights(a: FloatBuffer(PatchControl.gaussian(count: 3 * 7, seed: 1)),
                                  b: FloatBuffer(PatchControl.gaussian(count: 5 * 3, seed: 2)), rank: 3, inFeatures: 7,
                                  outFeatures: 5, scaling: 0.5)
        let expected = dense(weights).reduce(0) { $0 + $1 * $1 }.squareRoot()
        XCTAssertEqual(PatchControl.frobeniusNorm(weights), expected, accuracy: 1e-9 * expected)
    }

    func testRandomPatchKeepsEachLayersNorm() throws {
        let model = try LanguageModel.load(directory: GuardFixtures.model("llama-metaspace-oldkeys"))
        let adapter = try Teleporter(package: try TeleLoRAPackage.load(directory: GuardFixtures.generator)).teleport(model)
        let control = PatchControl.randomSameNorm(like: adapter, seed: 7)
        XCTAssertEqual(Set(control.layers.keys), Set(adapter.layers.keys))
        for (name, patch) in adapter.layers {
            let random = try XCTUnwrap(control.layers[name])
            let norm = dense(patch).reduce(0) { $0 + $1 * $1 }.squareRoot()
            XCTAssertEqual(dense(random).reduce(0) { $0 + $1 * $1 }.squareRoot(), norm, accuracy: 1e-4 * norm, name)
            XCTAssertNotEqual(random.a.array, patch.a.array)
        }
    }

    /// The 4-bit reference's patch is exactly each decoder linear layer's Q4_0 round trip minus the layer, and applied
    /// unmerged it computes what the model with its weights replaced by the round trip (merged) computes.
    func testQuantizedReferencePatchIsTheQ4_0RoundTripOfEveryLinearLayer() throws {
        let languageModel = try LanguageModel.load(directory: GuardFixtures.model("llama-metaspace-oldkeys"))
        let model = languageModel.model
        let patch = try PatchControl.quantizationPatch(of: model)
        XCTAssertEqual(Set(patch.keys), Set(model.linearLayerNames))
        for name in model.linearLayerNames {
            let weights = try XCTUnwrap(patch[name]), shape = try XCTUnwrap(model.linearShape(name))
            XCTAssertEqual(weights.rank, min(shape.inFeatures, shape.outFeatures), name)
            let original = try XCTUnwrap(model.linearWeight(name))
            let rounded = try original.withUnsafeBufferPointer { try GGUFQuantization.roundTrip($0, as: .q4_0) }
            for (index, value) in dense(weights).enumerated() {
                XCTAssertEqual(Float(value), rounded[index] - original[index], accuracy: 1e-6, "\(name)[\(index)]")
            }
        }
        let prompt = languageModel.tokenizer.encode("Hello there, how are you")
        let plain = try model.forward(prompt, cache: model.makeCache())
        let id = try model.applyLoRA(patch, scale: 1, mode: .unmerged)
        let unmerged = try model.forward(prompt, cache: model.makeCache())
        try model.removeAdapter(id)
        let merged = try model.applyLoRA(patch, scale: 1, mode: .merged)
        let reference = try model.forward(prompt, cache: model.makeCache())
        try model.removeAdapter(merged)
        XCTAssertLessThan(GuardFixtures.maxAbsoluteDifference(unmerged, reference), 1e-3)
        XCTAssertGreaterThan(GuardFixtures.maxAbsoluteDifference(unmerged, plain), 1e-3, "4 bits move the logits")
        XCTAssertEqual(try model.forward(prompt, cache: model.makeCache()), plain, "removing the patch restores the model")

        // One decoding step after the prompt runs the few-row path; at full rank it reads B as stored (no Bᵀ copy).
        func step(_ mode: LoRAMode) throws -> [Float] {
            let id = try model.applyLoRA(patch, scale: 1, mode: mode)
            defer { try? model.removeAdapter(id) }
            let cache = model.makeCache()
            _ = try model.forward(prompt, cache: cache)
            return try model.forward([prompt[0]], cache: cache, phase: .generated)
        }
        XCTAssertLessThan(GuardFixtures.maxAbsoluteDifference(try step(.unmerged), try step(.merged)), 1e-3)
    }

    func testNoiseIsStandardNormalAndSeeded() {
        let values = PatchControl.gaussian(count: 20_001, seed: 3)
        XCTAssertEqual(values.count, 20_001)
        let mean = values.reduce(0, +) / Float(values.count)
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(values.count)
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.05)
        XCTAssertEqual(PatchControl.gaussian(count: 5, seed: 3), Array(values.prefix(5)))
    }
}
