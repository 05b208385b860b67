import Foundation
@testable import Guard
import Runtime
import XCTest

/// The fused two-layer path (`ExchangeablePair`, C kernels, no N×H×c tensor stored) pools to the same features as
/// the layer-by-layer path it replaces, on every kernel path this CPU has, for the vectorised channel count (32) and
/// another (12, scalar), and for widths and row counts that are not multiples of the vector width.
final class ExchangeablePairTests: XCTestCase {
    func randomLayer(inputChannels: Int, channels: Int, random: inout SeededGenerator) -> ExchangeableLayer {
        func values(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -0.6...0.6, using: &random) } }
        let size = inputChannels * channels
        return ExchangeableLayer(inputChannels: inputChannels, outputChannels: channels, t1: values(size), t2: values(size),
                                 t3: values(size), t4: values(size), bias: values(channels))
    }

    func testFusedPairEqualsTheLayerByLayerPath() {
        var random = SeededGenerator(seed: 11)
        for channels in [32, 12] {
            let first = randomLayer(inputChannels: 1, channels: channels, random: &random)
            let last = randomLayer(inputChannels: channels, channels: channels, random: &random)
            for (rows, width) in [(1, 5), (7, 33), (64, 200)] {
                let x = (0..<(rows * width)).map { _ in Float.random(in: -3...3, using: &random) }
                let layered: (mean: [Float], max: [Float]) = x.withUnsafeBufferPointer { x in
                    let hidden = FloatBuffer(count: rows * width * channels)
                    first.forward(x.baseAddress!, rows: rows, width: width, into: hidden.pointer, threads: 2)
                    return last.forwardPooled(hidden.pointer, rows: rows, width: width, workspace: GeneratorWorkspace(threads: 2), threads: 2)
                }
                for level in 0...VectorMath.kernelLevel {
                    for threads in [1, 2] {
                        let fused = VectorMath.withKernelLevel(atMost: level) {
                            x.withUnsafeBufferPointer {
                                ExchangeablePair(first: first, last: last).forwardPooled($0.baseAddress!, rows: rows, width: width, threads: threads)
                            }
                        }
                        let scale = max(layered.mean.map(abs).max() ?? 1, layered.max.map(abs).max() ?? 1)
                        let error = max(GuardFixtures.maxAbsoluteDifference(fused.mean, layered.mean),
                                        GuardFixtures.maxAbsoluteDifference(fused.max, layered.max))
                        XCTAssertLessThanOrEqual(error, 2e-5 * scale, "c \(channels) N \(rows) H \(width) level \(level) threads \(threads)")
                    }
                }
            }
        }
    }

    func testTheShippedGeneratorPoolsAlikeFusedAndLayered() throws {
        let generator = try TeleLoRAGenerator.load(directory: GuardFixtures.repository.appendingPathComponent("adapters/telelora"))
        XCTAssertEqual(generator.exchangeable.count, 2, "the shipped generator is the fused case")
        var random = SeededGenerator(seed: 5)
        let rows = 128, width = 96
        let x = (0..<(rows * width)).map { _ in Float.random(in: -2...2, using: &random) }
        let fused = generator.pool(x: x, rows: rows, width: width, workspace: GeneratorWorkspace(threads: 2), fusedPair: true)
        let layered = generator.pool(x: x, rows: rows, width: width, workspace: GeneratorWorkspace(threads: 2), fusedPair: false)
        let scale = layered.features.map(abs).max() ?? 1
        XCTAssertLessThanOrEqual(GuardFixtures.maxAbsoluteDifference(fused.features, layered.features), 2e-5 * scale)
    }
}
