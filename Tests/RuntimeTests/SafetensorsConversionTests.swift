import Foundation
import XCTest

@testable import Runtime

/// F16/BF16 ↔ F32 conversions, checked against the IEEE 754 definitions of the formats.
final class SafetensorsConversionTests: XCTestCase {
    /// binary16 by definition (IEEE 754-2008 §3.4): sign, 5-bit exponent with bias 15, 10-bit fraction.
    private func halfByDefinition(_ bits: UInt16) -> Double {
        let sign: Double = bits & 0x8000 != 0 ? -1 : 1
        let exponent = Int(bits >> 10) & 0x1F
        let fraction = Double(bits & 0x3FF)
        switch exponent {
        case 0: return sign * fraction * pow(2, -24)
        case 31: return fraction == 0 ? sign * .infinity : .nan
        default: return sign * (1 + fraction / 1024) * pow(2, Double(exponent - 15))
        }
    }

    /// bfloat16 by definition: sign, 8-bit exponent with bias 127, 7-bit fraction.
    private func bfloat16ByDefinition(_ bits: UInt16) -> Double {
        let sign: Double = bits & 0x8000 != 0 ? -1 : 1
        let exponent = Int(bits >> 7) & 0xFF
        let fraction = Double(bits & 0x7F)
        switch exponent {
        case 0: return sign * fraction * pow(2, -133)
        case 255: return fraction == 0 ? sign * .infinity : .nan
        default: return sign * (1 + fraction / 128) * pow(2, Double(exponent - 127))
        }
    }

    func testKnownHalfBitPatterns() {
        let cases: [(UInt16, Float)] = [
            (0x3C00, 1), (0xC000, -2), (0x0000, 0), (0x0001, 0x1p-24), (0x03FF, 1023 * 0x1p-24),
            (0x0400, 0x1p-14), (0x7BFF, 65504), (0x3555, 0.333251953125), (0x7C00, .infinity),
            (0xFC00, -.infinity),
        ]
        for (bits, expected) in cases {
            XCTAssertEqual(HalfPrecisionConversion.float(fromHalfBits: bits), expected, "0x\(String(bits, radix: 16))")
        }
        XCTAssertEqual(HalfPrecisionConversion.float(fromHalfBits: 0x8000).bitPattern, (-Float.zero).bitPattern)
        XCTAssertTrue(HalfPrecisionConversion.float(fromHalfBits: 0x7E00).isNaN)
    }

    func testKnownBFloat16BitPatterns() {
        let cases: [(UInt16, Float)] = [
            (0x3F80, 1), (0xC000, -2), (0x0001, 0x1p-133), (0x0080, 0x1p-126), (0x7F7F, 0x1.FEp127),
            (0x3EAB, 0.333984375), (0x7F80, .infinity), (0xFF80, -.infinity),
        ]
        for (bits, expected) in cases {
            XCTAssertEqual(HalfPrecisionConversion.float(fromBFloat16Bits: bits), expected, "0x\(String(bits, radix: 16))")
        }
        XCTAssertTrue(HalfPrecisionConversion.float(fromBFloat16Bits: 0x7FC0).isNaN)
    }

    func testEveryHalfBitPatternWidensExactly() {
        for bits in UInt16.min...UInt16.max {
            let widened = HalfPrecisionConversion.float(fromHalfBits: bits)
            let expected = halfByDefinition(bits)
            if expected.isNaN {
                // NaN keeps its sign and payload (the fraction moves to the top of float's fraction).
                let payload = UInt32(bits & 0x3FF) << 13
                XCTAssertEqual(widened.bitPattern, UInt32(bits & 0x8000) << 16 | 0x7F80_0000 | payload)
            } else {
                XCTAssertEqual(widened.bitPattern, Float(expected).bitPattern, "0x\(String(bits, radix: 16))")
            }
        }
    }

    func testEveryBFloat16BitPatternWidensExactly() {
        for bits in UInt16.min...UInt16.max {
            let widened = HalfPrecisionConversion.float(fromBFloat16Bits: bits)
            let expected = bfloat16ByDefinition(bits)
            if expected.isNaN {
                XCTAssertTrue(widened.isNaN)
                XCTAssertEqual(widened.bitPattern >> 16, UInt32(bits))
            } else {
                XCTAssertEqual(widened.bitPattern, Float(expected).bitPattern, "0x\(String(bits, radix: 16))")
            }
        }
    }

    func testHalfNarrowingIsExactForRepresentableValuesAndRoundsTiesToEven() {
        for bits in UInt16.min...0x7C00 {
            let value = HalfPrecisionConversion.float(fromHalfBits: bits)
            XCTAssertEqual(HalfPrecisionConversion.halfBits(from: value), bits)
            XCTAssertEqual(HalfPrecisionConversion.halfBits(from: -value), bits | 0x8000)
            guard bits < 0x7C00 else { continue }
            // Halfway to the next half (infinity after 65504, as if the exponent went on): ties go to
            // the even neighbour; anything off the midpoint goes to the nearer one.
            let next = bits + 1
            let midpoint = Float((halfByDefinition(bits) + (next == 0x7C00 ? 65536 : halfByDefinition(next))) / 2)
            let even = bits % 2 == 0 ? bits : next
            XCTAssertEqual(HalfPrecisionConversion.halfBits(from: midpoint), even, "midpoint after 0x\(String(bits, radix: 16))")
            XCTAssertEqual(HalfPrecisionConversion.halfBits(from: midpoint.nextDown), bits)
            XCTAssertEqual(HalfPrecisionConversion.halfBits(from: midpoint.nextUp), next)
        }
        XCTAssertEqual(HalfPrecisionConversion.halfBits(from: 1e10), 0x7C00)
        XCTAssertEqual(HalfPrecisionConversion.halfBits(from: -.infinity), 0xFC00)
        XCTAssertEqual(HalfPrecisionConversion.halfBits(from: .nan), 0x7E00)
        XCTAssertEqual(HalfPrecisionConversion.halfBits(from: 0x1p-26), 0)
    }

    func testBFloat16NarrowingIsExactForRepresentableValuesAndRoundsTiesToEven() {
        for bits in UInt16.min...0x7F80 {
            let value = HalfPrecisionConversion.float(fromBFloat16Bits: bits)
            XCTAssertEqual(HalfPrecisionConversion.bfloat16Bits(from: value), bits)
            XCTAssertEqual(HalfPrecisionConversion.bfloat16Bits(from: -value), bits | 0x8000)
            guard bits < 0x7F80 else { continue }
            // A bfloat16 is the top half of a float, so the midpoint to the next one is bit 15 set.
            let midpoint = Float(bitPattern: UInt32(bits) << 16 | 0x8000)
            let next = bits + 1
            let even = bits % 2 == 0 ? bits : next
            XCTAssertEqual(HalfPrecisionConversion.bfloat16Bits(from: midpoint), even)
            XCTAssertEqual(HalfPrecisionConversion.bfloat16Bits(from: midpoint.nextDown), bits)
            XCTAssertEqual(HalfPrecisionConversion.bfloat16Bits(from: midpoint.nextUp), next)
        }
        XCTAssertEqual(HalfPrecisionConversion.bfloat16Bits(from: .nan), 0x7FC0)
        XCTAssertEqual(HalfPrecisionConversion.bfloat16Bits(from: .greatestFiniteMagnitude), 0x7F80)
    }
}
