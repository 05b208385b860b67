import Foundation
import Guard
import Runtime
import XCTest

/// The generator's symmetries (training/generator.py docstring): equivariant over input neurons, invariant over rows.
final class TeleLoRAGeneratorSymmetryTests: XCTestCase {
    let rows = 11, width = 37, outFeatures = 9

    func inputs(seed: UInt64) -> (x: [Float], w: [Float]) {
        var random = SeededGenerator(seed: seed)
        func value() -> Float { Float(Double(random.next() % 2_000_001) / 1_000_000 - 1) }
        return ((0..<(rows * width)).map { _ in value() }, (0..<(outFeatures * width)).map { _ in value() * 0.1 })
    }

    func testPermutingInputNeuronsPermutesUAndV() throws {
        let generator = try TeleLoRAGenerator.load(directory: GuardFixtures.generator)
        let (x, w) = inputs(seed: 1)
        var random = SeededGenerator(seed: 2)
        let permutation = Array(0..<width).shuffled(using: &random)
        // Column j of the permuted inputs is column permutation[j] of the originals.
        let xPermuted = (0..<rows).flatMap { n in permutation.map { x[n * width + $0] } }
        let wPermuted = (0..<outFeatures).flatMap { i in permutation.map { w[i * width + $0] } }
        for layerType in ["q_proj", "down_proj"] {
            let original = try generator(x: x, rows: rows, weight: w, outFeatures: outFeatures, layerType: layerType)
            let permuted = try generator(x: xPermuted, rows: rows, weight: wPermuted, outFeatures: outFeatures, layerType: layerType)
            let rank = original.rank
            let expectedU = (0..<rank).flatMap { k in permutation.map { original.u[k * width + $0] } }
            let expectedV = (0..<rank).flatMap { k in permutation.map { original.v[k * width + $0] } }
            XCTAssertLessThanOrEqual(GuardFixtures.maxAbsoluteDifference(permuted.u, expectedU), 1e-5)
            XCTAssertLessThanOrEqual(GuardFixtures.maxAbsoluteDifference(permuted.v, expectedV), 1e-5)
            XCTAssertGreaterThan(original.v.map(abs).max() ?? 0, 0)
        }
    }

    func testShufflingRowsChangesNothing() throws {
        let generator = try TeleLoRAGenerator.load(directory: GuardFixtures.generator)
        let (x, w) = inputs(seed: 3)
        var random = SeededGenerator(seed: 4)
        let order = Array(0..<rows).shuffled(using: &random)
        let shuffled = order.flatMap { n in x[(n * width)..<((n + 1) * width)] }
        let original = try generator(x: x, rows: rows, weight: w, outFeatures: outFeatures, layerType: "v_proj")
        let reordered = try generator(x: shuffled, rows: rows, weight: w, outFeatures: outFeatures, layerType: "v_proj")
        XCTAssertLessThanOrEqual(GuardFixtures.maxAbsoluteDifference(original.u, reordered.u), 1e-6)
        XCTAssertLessThanOrEqual(GuardFixtures.maxAbsoluteDifference(original.v, reordered.v), 1e-6)
    }

    func testThePatchRespectsTheNormBound() throws {
        let generator = try TeleLoRAGenerator.load(directory: GuardFixtures.generator)
        let (x, w) = inputs(seed: 5)
        let patch = try generator(x: x.map { $0 * 100 }, rows: rows, weight: w, outFeatures: outFeatures, layerType: "up_proj")
        func norm(_ values: [Float]) -> Float { values.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        XCTAssertLessThanOrEqual(norm(patch.u) * norm(patch.v), generator.spec.maxNorm * 1.0001)
    }

    /// W·Vᵀ·U·x for every row x: the patch's share of the layer's output (outFeatures per row).
    func patchShare(_ patch: TeleLoRAPatch, x: [Float], w: [Float], width: Int) -> [Float] {
        var share: [Float] = []
        for n in 0..<rows {
            var ux = [Float](repeating: 0, count: patch.rank)
            for k in 0..<patch.rank { for j in 0..<width { ux[k] += patch.u[k * width + j] * x[n * width + j] } }
            var p = [Float](repeating: 0, count: width)
            for j in 0..<width { for k in 0..<patch.rank { p[j] += patch.v[k * width + j] * ux[k] } }
            var out = [Float](repeating: 0, count: outFeatures)
            for i in 0..<outFeatures { for j in 0..<width { out[i] += w[i * width + j] * p[j] } }
            share += out
        }
        return share
    }

    func testWithUScaleOneOverHDuplicatingEveryInputNeuronChangesNoOutput() throws {
        // X → [X X], W → [W W]/2 is the same layer at twice the width: a "1/H" generator patches it the same, a
        // "1/sqrt(H)" one scales the patch's share by sqrt(2).
        let (x, w) = inputs(seed: 6)
        func duplicated(_ matrix: [Float], rowCount: Int) -> [Float] {
            var result: [Float] = []
            for n in 0..<rowCount {
                let row = Array(matrix[(n * width)..<((n + 1) * width)])
                result += row
                result += row
            }
            return result
        }
        let x2 = duplicated(x, rowCount: rows)
        let w2 = duplicated(w, rowCount: outFeatures).map { $0 / 2 }
        for (uScale, ratio) in [("1/H", Float(1)), ("1/sqrt(H)", Float(2).squareRoot())] {
            // The fixture's generator under this u_scale, its norm bound lifted so that it cannot mask the ratio.
            let (directory, _) = try GuardFixtures.copyOfGenerator(self, architecture: ["u_scale": uScale, "max_norm": 1e6])
            let generator = try TeleLoRAGenerator.load(directory: directory)
            let share = patchShare(try generator(x: x, rows: rows, weight: w, outFeatures: outFeatures, layerType: "up_proj"),
                                   x: x, w: w, width: width)
            let doubled = patchShare(try generator(x: x2, rows: rows, weight: w2, outFeatures: outFeatures, layerType: "up_proj"),
                                     x: x2, w: w2, width: 2 * width)
            let largest = share.map(abs).max() ?? 0
            XCTAssertGreaterThan(largest, 1e-3)
            XCTAssertLessThanOrEqual(GuardFixtures.maxAbsoluteDifference(doubled, share.map { $0 * ratio }), 3e-3 * largest, uScale)   // float32 sums; sqrt(2) − 1 is 0.41
        }
    }
}
