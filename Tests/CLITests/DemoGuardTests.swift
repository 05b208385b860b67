import Foundation
import XCTest

/// The acceptance command on the shipped demo model and generator:
/// `teleguard verify --model models/demo --suite models/demo/suite.json --compare`.
/// The expected numbers come from `models/demo/demo.json` "evaluation", which `python -m training.export` copies from
/// training/evaluate.py's PyTorch measurement of the same suite on the same model with the same generator.
final class DemoGuardTests: XCTestCase {
    static let repository = CommandRunner.fixtures.deletingLastPathComponent().deletingLastPathComponent()
    let demo = repository.appendingPathComponent("models/demo")

    struct Measured {
        let asr: Double
        let benignAccuracy: Double
    }

    func trainingEvaluation() throws -> (none: Measured, telelora: Measured) {
        let data = try Data(contentsOf: demo.appendingPathComponent("demo.json"))
        let record = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let evaluation = try XCTUnwrap(record["evaluation"] as? [String: [String: Any]],
                                       "demo.json has no evaluation: rerun python -m training.export")
        func measured(_ method: String) throws -> Measured {
            let row = try XCTUnwrap(evaluation[method], "demo.json evaluation lacks \(method)")
            return Measured(asr: try XCTUnwrap(row["asr"] as? Double),
                            benignAccuracy: try XCTUnwrap(row["suite_benign_accuracy"] as? Double))
        }
        return (try measured("none"), try measured("telelora"))
    }

    func testVerifyCompareOnTheDemoMatchesTheTrainingEvaluation() throws {
        let expected = try trainingEvaluation()
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("teleguard-demo-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: cache) }
        let run = try CommandRunner.run([
            "verify", "--model", demo.path, "--suite", demo.appendingPathComponent("suite.json").path, "--compare",
            "--json", "--teleport-cache", cache.path,
            "--generator", Self.repository.appendingPathComponent("adapters/telelora").path,
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        let report = try XCTUnwrap(try CommandRunner.json(run.stdout) as? [String: [String: Any]])
        let off = try XCTUnwrap(report["off"]), guarded = try XCTUnwrap(report["guarded"])

        // Guard off: greedy decoding agrees with transformers token for token, so the rates are the same numbers.
        XCTAssertEqual(try XCTUnwrap(off["asr"] as? Double), expected.none.asr, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(off["benign_accuracy"] as? Double), expected.none.benignAccuracy, accuracy: 1e-9)
        XCTAssertGreaterThanOrEqual(expected.none.asr, 0.9, "the demo Trojan fires")

        // Guard on: the runtime samples its own probe rows (a reservoir) where PyTorch took a random subset, so the
        // patch differs slightly; the rates must stay within a few suite cases of the training measurement.
        XCTAssertEqual(guarded["guard"] as? String, "teleport")
        XCTAssertEqual(try XCTUnwrap(guarded["asr"] as? Double), expected.telelora.asr, accuracy: 0.1)
        XCTAssertEqual(try XCTUnwrap(guarded["benign_accuracy"] as? Double), expected.telelora.benignAccuracy,
                       accuracy: 0.1)
    }
}
