import Foundation
import Guard
import Runtime
import XCTest

/// The Swift generator equals training/generator.py on parity.json (made by make_parity.py, or by training/export.py
/// for the shipped generator, which names its generator file in the fixture).
final class TeleLoRAGeneratorParityTests: XCTestCase {
    struct Parity: Decodable {
        struct Case: Decodable {
            let layer_type: String
            let n: Int
            let h: Int
            let out_features: Int
            let x: [Float]
            let w: [Float]
            let w_column_stats: [Float]
            let u: [Float]
            let v: [Float]
        }
        let generator: String
        let generator_sha256: String
        let rank: Int
        let cases: [Case]
    }

    func loadParity() throws -> (Parity, TeleLoRAGenerator) {
        let parity = try JSONDecoder().decode(Parity.self, from: Data(contentsOf: GuardFixtures.telelora.appendingPathComponent("parity.json")))
        let directory = GuardFixtures.repository.appendingPathComponent(parity.generator).deletingLastPathComponent()
        let generator = try TeleLoRAGenerator.load(directory: directory)
        XCTAssertEqual(generator.spec.generatorSHA256, parity.generator_sha256, "parity.json was made with another generator")
        XCTAssertEqual(generator.spec.rank, parity.rank)
        // The spec's hash was computed by Python's hashlib: the Swift SHA-256 must agree.
        let bytes = try Data(contentsOf: directory.appendingPathComponent(TeleLoRAGenerator.weightsFile))
        XCTAssertEqual(SHA256.hex(bytes), parity.generator_sha256)
        return (parity, generator)
    }

    func testUAndVEqualTheReferenceWithin1e4() throws {
        let (parity, generator) = try loadParity()
        XCTAssertGreaterThanOrEqual(parity.cases.count, 4)
        var worst: Float = 0
        for item in parity.cases {
            let patch = try generator(x: item.x, rows: item.n, weight: item.w, outFeatures: item.out_features, layerType: item.layer_type)
            XCTAssertEqual(patch.u.count, item.u.count)
            XCTAssertEqual(patch.v.count, item.v.count)
            XCTAssertGreaterThan(item.v.map(abs).max() ?? 0, 0, "a zero V would make the parity check trivial")
            let error = max(GuardFixtures.maxAbsoluteDifference(patch.u, item.u), GuardFixtures.maxAbsoluteDifference(patch.v, item.v))
            XCTAssertLessThanOrEqual(error, 1e-4, "H=\(item.h) \(item.layer_type)")
            worst = max(worst, error)
        }
        print("TeleLoRA generator parity: max |Δ| = \(worst) over \(parity.cases.count) cases")
    }

    func testWeightColumnStatisticsEqualTheReference() throws {
        let (parity, generator) = try loadParity()
        for item in parity.cases {
            let statistics = item.w.withUnsafeBufferPointer {
                TeleLoRAGenerator.weightColumnStatistics($0, outFeatures: item.out_features, width: item.h, epsilon: generator.spec.epsilon)
            }
            XCTAssertLessThanOrEqual(GuardFixtures.maxAbsoluteDifference(statistics, item.w_column_stats), 1e-5, "H=\(item.h)")
        }
    }
}
