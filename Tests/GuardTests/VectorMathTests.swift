import Foundation
@testable import Guard
import XCTest

/// The vectorised SiLU agrees with libm's `expf` to float precision over the range the generator sees.
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
}
