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
