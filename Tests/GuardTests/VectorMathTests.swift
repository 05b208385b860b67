import Foundation
@testable import Guard
import XCTest

/// The SiLU kernels (C: AVX-512, AVX2+FMA or scalar, whichever the CPU has) agree with libm's `expf` to float precision
/// over the range the generator sees, on every path this CPU can run, also on lengths that leave a tail after the
/// vector loop.
final class VectorMathTests: XCTestCase {
    /// The kernel levels this CPU runs: 0 (scalar) up to what it has.
    var levels: [Int] { Array(0...VectorMath.kernelLevel) }

    func testSiLUMatchesTheScalarFormula() {
        var input: [Float] = stride(from: Float(-100), through: 100, by: 0.0137).map { $0 }
        input += [0, -0, 1e-30, -1e-30, 88.7, -88.7, 500, -500]
        let expected = input.map { $0 / (1 + expf(-$0)) }
        for level in levels {
            var values = input
            VectorMath.withKernelLevel(atMost: level) { values.withUnsafeMutableBufferPointer { VectorMath.siluInPlace($0) } }
            var worst: Float = 0
            for (found, reference) in zip(values, expected) {
                XCTAssertEqual(found, reference, accuracy: max(abs(reference) * 4e-7, 1e-30), "level \(level)")
                worst = max(worst, abs(found - reference) / max(abs(reference), 1e-30))
            }
            print("SiLU kernels level \(level): max relative error \(worst)")
        }
    }

    func testSiLUAccumulateAddsTheSiLUToTheSumsAndMaxima() {
        for level in levels {
            for count in [0, 1, 7, 8, 9, 17, 31, 1000] {
                let values = (0..<count).map { Float($0 % 23) * 0.71 - 8 }
                var z = values
                var sum = (0..<count).map { Float($0) * 0.5 }, maximum = (0..<count).map { Float($0 % 3) - 1 }
                let expectedSum = zip(sum, values).map { $0 + VectorMath.silu($1) }
                let expectedMax = zip(maximum, values).map { max($0, VectorMath.silu($1)) }
                VectorMath.withKernelLevel(atMost: level) {
                    z.withUnsafeMutableBufferPointer { z in
                        sum.withUnsafeMutableBufferPointer { sum in
                            maximum.withUnsafeMutableBufferPointer { maximum in
                                VectorMath.siluAccumulate(z.baseAddress!, count: count, sum: sum.baseAddress!, maximum: maximum.baseAddress!)
                            }
                        }
                    }
                }
                for i in 0..<count {
                    XCTAssertEqual(z[i], VectorMath.silu(values[i]), accuracy: abs(z[i]) * 4e-7 + 1e-30, "level \(level) count \(count) index \(i)")
                    XCTAssertEqual(sum[i], expectedSum[i], accuracy: abs(expectedSum[i]) * 4e-7 + 1e-6)
                    XCTAssertEqual(maximum[i], expectedMax[i], accuracy: abs(expectedMax[i]) * 4e-7 + 1e-30)
                }
            }
        }
    }

    func testTheWidestPathTheCPUHasIsUsed() throws {
        #if arch(x86_64)
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let line = try XCTUnwrap(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") })
        let words = Set(line.split(separator: " ").map(String.init))
        let expected = words.contains("avx512f") ? 2 : (words.contains("avx2") && words.contains("fma") ? 1 : 0)
        XCTAssertEqual(VectorMath.kernelLevel, expected)
        XCTAssertEqual(VectorMath.kernelName, ["scalar", "avx2_fma", "avx512"][expected])
        #else
        XCTAssertEqual(VectorMath.kernelLevel, 0)
        XCTAssertEqual(VectorMath.kernelName, "scalar")
        #endif
    }
}
