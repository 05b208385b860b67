import Foundation
@testable import Guard
import XCTest

/// The vectorised SiLU (the C kernels: AVX2+FMA where the CPU has it, else scalar) agrees with libm's `expf` to float
/// precision over the range the generator sees, also on lengths that leave a tail after the 8-wide loop.
final class VectorMathTests: XCTestCase {
    func testSiLUMatchesTheScalarFormula() {
        var values: [Float] = stride(from: Float(-100), through: 100, by: 0.0137).map { $0 }
        values += [0, -0, 1e-30, -1e-30, 88.7, -88.7, 500, -500]
        let expected = values.map { $0 / (1 + expf(-$0)) }
        values.withUnsafeMutableBufferPointer { VectorMath.siluInPlace($0) }
        for (found, reference) in zip(values, expected) {
            XCTAssertEqual(found, reference, accuracy: max(abs(reference) * 4e-7, 1e-30))
        }
    }

    func testSiLUAccumulateAddsTheSiLUToTheSumsAndMaxima() {
        for count in [0, 1, 7, 8, 9, 31, 1000] {
            let values = (0..<count).map { Float($0 % 23) * 0.71 - 8 }
            var z = values
            var sum = (0..<count).map { Float($0) * 0.5 }, maximum = (0..<count).map { Float($0 % 3) - 1 }
            let expectedSum = zip(sum, values).map { $0 + VectorMath.silu($1) }
            let expectedMax = zip(maximum, values).map { max($0, VectorMath.silu($1)) }
            z.withUnsafeMutableBufferPointer { z in
                sum.withUnsafeMutableBufferPointer { sum in
                    maximum.withUnsafeMutableBufferPointer { maximum in
                        VectorMath.siluAccumulate(z.baseAddress!, count: count, sum: sum.baseAddress!, maximum: maximum.baseAddress!)
                    }
                }
            }
            for i in 0..<count {
                XCTAssertEqual(z[i], VectorMath.silu(values[i]), accuracy: abs(z[i]) * 4e-7 + 1e-30, "count \(count) index \(i)")
                XCTAssertEqual(sum[i], expectedSum[i], accuracy: abs(expectedSum[i]) * 4e-7 + 1e-6)
                XCTAssertEqual(maximum[i], expectedMax[i], accuracy: abs(expectedMax[i]) * 4e-7 + 1e-30)
            }
        }
    }

    func testTheVectorPathIsUsedWhereTheCPUHasAVX2() throws {
        #if arch(x86_64)
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let line = try XCTUnwrap(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") })
        let words = Set(line.split(separator: " ").map(String.init))
        XCTAssertEqual(VectorMath.vectorized, words.contains("avx2") && words.contains("fma"))
        #else
        XCTAssertFalse(VectorMath.vectorized)
        #endif
    }
}
