import CKernels
import XCTest
@testable import Runtime

/// `BLAS.linear` on 2–4 rows (sequences decoded side by side) reads each weight row once for all of them
/// (`tg_rows_times_weight`); it must give the product a double-precision reference gives, on the vector and the
/// scalar path, for widths that are not multiples of the vector size, and split over threads for large weights.
final class SideBySideKernelTests: XCTestCase {
    func testFewRowsTimesWeightEqualsTheReferenceOnEveryPath() {
        var random = SeededGenerator(seed: 7)
        func values(_ count: Int) -> [Float] { (0..<count).map { _ in Float(Int(random.next() % 2001) - 1000) / 1000 } }
        for (inFeatures, outFeatures) in [(37, 5), (300, 129), (1024, 640)] {
            let weight = values(inFeatures * outFeatures)
            for rows in 1...4 {
                let x = values(rows * inFeatures)
                var reference = [Double](repeating: 0, count: rows * outFeatures)
                for r in 0..<rows {
                    for o in 0..<outFeatures {
                        var sum = 0.0
                        for i in 0..<inFeatures { sum += Double(x[r * inFeatures + i]) * Double(weight[o * inFeatures + i]) }
                        reference[r * outFeatures + o] = sum
                    }
                }
                for level: Int32 in [2, 0] {
                    tg_kernels_limit(level)
                    defer { tg_kernels_limit(2) }
                    var y = [Float](repeating: .nan, count: rows * outFeatures)
                    x.withUnsafeBufferPointer { xp in
                        weight.withUnsafeBufferPointer { wp in
                            y.withUnsafeMutableBufferPointer { yp in
                                BLAS.linear(xp.baseAddress!, rows: rows, weight: wp.baseAddress!, inFeatures: inFeatures,
                                            outFeatures: outFeatures, into: yp.baseAddress!)
                            }
                        }
                    }
                    XCTAssertTrue(y.allSatisfy(\.isFinite), "every output written")
                    let worst = zip(y, reference).map { abs(Double($0) - $1) }.max() ?? .nan
                    XCTAssertLessThan(worst, 1e-4 * Double(inFeatures).squareRoot(), "\(rows) rows, \(inFeatures)→\(outFeatures), level \(level)")
                }
            }
        }
    }
}
