import Foundation
import Guard
import Runtime
import XCTest

/// The Swift generator equals training/generator.py on the parity fixtures: `parity.json` (the shipped generator, written by
/// training/export.py) and `random-generator-parity.json` (a random generator with a non-zero V head, make_parity.py).
/// Each fixture names the generator file it was made with.
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

    static let fixtureFiles = ["parity.json", "random-generator-parity.json"]

    func loadParity(_ file: String) throws -> (Parity, TeleLoRAGenerator) {
        let parity = try JSONDecoder().decode(Parity.self, from: Data(contentsOf: GuardFixtures.telelora.appendingPathComponent(file)))
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
        for file in Self.fixtureFiles {
            let (parity, generator) = try loadParity(file)
            XCTAssertGreaterThanOrEqual(parity.cases.count, 4)
            var worst: Float = 0
            for item in parity.cases {
                let patch = try generator(x: item.x, rows: item.n, weight: item.w, outFeatures: item.out_features, layerType: item.layer_type)
                XCTAssertEqual(patch.u.count, item.u.count)
                XCTAssertEqual(patch.v.count, item.v.count)
                XCTAssertGreaterThan(item.v.map(abs).max() ?? 0, 0, "a zero V would make the parity check trivial")
                let error = max(GuardFixtures.maxAbsoluteDifference(patch.u, item.u), GuardFixtures.maxAbsoluteDifference(patch.v, item.v))
                XCTAssertLessThanOrEqual(error, 1e-4, "\(file) H=\(item.h) \(item.layer_type)")
                worst = max(worst, error)
            }
            print("TeleLoRA generator parity (\(file)): max |Δ| = \(worst) over \(parity.cases.count) cases")
        }
    }

    func testWeightColumnStatisticsEqualTheReference() throws {
        for file in Self.fixtureFiles {
            let (parity, generator) = try loadParity(file)
            for item in parity.cases {
                let statistics = item.w.withUnsafeBufferPointer {
                    TeleLoRAGenerator.weightColumnStatistics($0, outFeatures: item.out_features, width: item.h, epsilon: generator.spec.epsilon)
                }
                XCTAssertLessThanOrEqual(GuardFixtures.maxAbsoluteDifference(statistics, item.w_column_stats), 1e-5, "\(file) H=\(item.h)")
            }
        }
    }
}
