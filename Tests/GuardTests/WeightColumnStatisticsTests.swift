import Foundation
import Guard
import Runtime
import XCTest

/// The W column statistics made in one pass (raw sums, normalised after, columns split across threads) equal the
/// formula of training/generator.py evaluated directly, whatever the number of threads.
final class WeightColumnStatisticsTests: XCTestCase {
    func testOnePassStatisticsEqualTheFormulaForAnyThreadCount() throws {
        let outFeatures = 150, width = 77, epsilon: Float = 1e-6
        var random = SeededGenerator(seed: 5)
        let weight = (0..<(outFeatures * width)).map { _ in Float(Double(random.next() % 2_000_001) / 1_000_000 - 1) * 0.05 }
        // Reference: Wn = W / sqrt(mean(W²) + ε), then per column j: sqrt(mean Wn²), mean Wn, mean |Wn|, max |Wn|.
        let meanSquare = weight.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(weight.count)
        let divisor = (meanSquare + Double(epsilon)).squareRoot()
        var expected = [Double](repeating: 0, count: width * 4)
        for j in 0..<width {
            let column = (0..<outFeatures).map { Double(weight[$0 * width + j]) / divisor }
            expected[j * 4] = (column.reduce(0) { $0 + $1 * $1 } / Double(outFeatures)).squareRoot()
            expected[j * 4 + 1] = column.reduce(0, +) / Double(outFeatures)
            expected[j * 4 + 2] = column.reduce(0) { $0 + abs($1) } / Double(outFeatures)
            expected[j * 4 + 3] = column.map(abs).max() ?? 0
        }
        let single = weight.withUnsafeBufferPointer {
            TeleLoRAGenerator.weightColumnStatistics($0, outFeatures: outFeatures, width: width, epsilon: epsilon)
        }
        let worst = zip(single, expected).map { abs(Double($0) - $1) / max(1, abs($1)) }.max() ?? .infinity
        XCTAssertLessThan(worst, 1e-5)
        for threads in [2, 3, 8] {
            let split = weight.withUnsafeBufferPointer {
                TeleLoRAGenerator.weightColumnStatistics($0, outFeatures: outFeatures, width: width, epsilon: epsilon, threads: threads)
            }
            XCTAssertEqual(split, single, "\(threads) threads")
        }
    }
}
