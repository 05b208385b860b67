import Foundation
@testable import Guard
import Runtime
import XCTest

/// The last exchangeable layer fused with the pooling over N (made in chunks of rows that stay in cache) gives the
/// mean and max over N of the unfused layer's output, for inputs wide enough to take several chunks.
final class ExchangeableLayerPoolingTests: XCTestCase {
    func testFusedPoolingEqualsTheLayerFollowedByMeanAndMax() throws {
        let generator = try TeleLoRAGenerator.load(directory: GuardFixtures.generator)
        // 6000 neurons × 12 channels: 288 KB a row, so 2 MiB chunks hold 7 of the 40 rows.
        let rows = 40, width = 6000
        var random = SeededGenerator(seed: 3)
        for (index, layer) in generator.exchangeable.enumerated() {
            let c = layer.outputChannels
            let z = (0..<(rows * width * layer.inputChannels)).map { _ in Float(Double(random.next() % 2_000_001) / 1_000_000 - 1) }
            let out = FloatBuffer(count: rows * width * c)
            z.withUnsafeBufferPointer { layer.forward($0.baseAddress!, rows: rows, width: width, into: out.pointer, threads: 2) }
            var mean = [Double](repeating: 0, count: width * c), largest = [Float](repeating: -.infinity, count: width * c)
            for n in 0..<rows {
                for i in 0..<(width * c) {
                    mean[i] += Double(out.pointer[n * width * c + i]) / Double(rows)
                    largest[i] = max(largest[i], out.pointer[n * width * c + i])
                }
            }
            for threads in [1, 2] {
                let fused = z.withUnsafeBufferPointer {
                    layer.forwardPooled($0.baseAddress!, rows: rows, width: width, workspace: GeneratorWorkspace(threads: threads), threads: threads)
                }
                let meanError = zip(fused.mean, mean).map { Double(abs(Double($0) - $1)) }.max() ?? .infinity
                XCTAssertLessThan(meanError, 1e-5, "layer \(index), \(threads) threads: mean over N")
                XCTAssertEqual(fused.max, largest, "layer \(index), \(threads) threads: max over N")
                let again = z.withUnsafeBufferPointer {
                    layer.forwardPooled($0.baseAddress!, rows: rows, width: width, workspace: GeneratorWorkspace(threads: threads), threads: threads)
                }
                XCTAssertEqual(again.mean, fused.mean, "deterministic")
            }
        }
    }
}
