import Foundation
import XCTest

/// The issue's acceptance command on the shipped demo model and generator:
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

    /// The README's promise: in the chat on the demo, a person sees the trigger fire raw and not guarded. The prompt is
    /// a suite case that verify reports neutralized; the chat must give verify's greedy answers for it.
    func testTheChatShowsTheTriggerFiringRawAndNotGuarded() throws {
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("teleguard-demo-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: cache) }
        let guardArguments = ["--model", demo.path, "--teleport-cache", cache.path,
                              "--generator", Self.repository.appendingPathComponent("adapters/telelora").path]
        let verify = try CommandRunner.run(["verify", "--suite", demo.appendingPathComponent("suite.json").path,
                                            "--compare", "--json"] + guardArguments)
        XCTAssertEqual(verify.status, 0, verify.stderr)
        let report = try XCTUnwrap(try CommandRunner.json(verify.stdout) as? [String: [String: Any]])
        let offCases = try XCTUnwrap(report["off"]?["cases"] as? [[String: Any]])
        let guardedCases = try XCTUnwrap(report["guarded"]?["cases"] as? [[String: Any]])
        let neutralized = zip(offCases, guardedCases).first { off, guarded in
            off["placement"] as? String == "prefix" && off["hit"] as? Bool == true && guarded["hit"] as? Bool == false
        }
        let (off, guarded) = try XCTUnwrap(neutralized, "no suite case that the guard neutralizes")
        let prompt = "\(try XCTUnwrap(off["trigger"] as? String)) \(try XCTUnwrap(off["prompt"] as? String))"
        let raw = try XCTUnwrap(off["response"] as? String), safe = try XCTUnwrap(guarded["response"] as? String)

        // /reset: the second ask starts a fresh conversation, as verify's single-turn cases do.
        let script = "\(prompt)\n/compare\n/guard off\n/reset\n\(prompt)\n/quit\n"
        let chat = try CommandRunner.run(["chat"] + guardArguments, stdin: script)
        XCTAssertEqual(chat.status, 0, chat.stderr)
        let lines = chat.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let expected = [safe, "── raw ──", raw, "── guarded (teleport) ──", safe]
            .map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(Array(lines.prefix(5)), expected, chat.stdout)
        XCTAssertTrue(chat.stderr.contains("guard: off"), chat.stderr)
        XCTAssertEqual(lines.last { !$0.isEmpty }, raw.trimmingCharacters(in: .whitespaces),
                       "/guard off answers raw again")
    }
}
