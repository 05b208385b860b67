import Foundation
import Guard
import Runtime
import XCTest

/// The `teleguard` command as scripts use it: JSON outputs equal the reference, bad input exits non-zero with a
/// message naming the problem.
final class CLITests: XCTestCase {
    struct CLICase: Decodable {
        let text: String
        let raw_prompt_ids: [Int]
        let raw_output_ids: [Int]
        let chat_prompt_ids: [Int]
        let chat_output_ids: [Int]
    }
    struct Expected: Decodable { let cli: [CLICase] }

    var models: [URL] {
        let root = CommandRunner.fixtures.appendingPathComponent("models")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.sorted().map { root.appendingPathComponent($0) }
            .filter { FileManager.default.fileExists(atPath: $0.appendingPathComponent("expected.json").path) }
    }

    func expected(_ model: URL) throws -> [CLICase] {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: model.appendingPathComponent("expected.json"))).cli
    }

    func testTokenizePrintsTheReferenceIds() throws {
        XCTAssertFalse(models.isEmpty)
        for model in models {
            for reference in try expected(model) {
                let raw = try CommandRunner.run(["tokenize", "--model", model.path, "--text", reference.text])
                XCTAssertEqual(raw.status, 0, raw.stderr)
                XCTAssertEqual(try CommandRunner.json(raw.stdout) as? [Int], reference.raw_prompt_ids, model.lastPathComponent)
                let chat = try CommandRunner.run(["tokenize", "--model", model.path, "--chat", "--text", reference.text])
                XCTAssertEqual(try CommandRunner.json(chat.stdout) as? [Int], reference.chat_prompt_ids, model.lastPathComponent)
            }
        }
    }

    func testGenerateJSONMatchesTransformersGreedy() throws {
        for model in models {
            for reference in try expected(model) {
                let count = String(reference.raw_output_ids.count)
                let raw = try CommandRunner.run(["generate", "--guard", "off", "--model", model.path, "--raw", "--json", "--ignore-eos",
                                                 "--max-tokens", count, "--threads", "1", "--prompt", reference.text])
                XCTAssertEqual(raw.status, 0, raw.stderr)
                let object = try XCTUnwrap(CommandRunner.json(raw.stdout) as? [String: Any])
                XCTAssertEqual(object["prompt_ids"] as? [Int], reference.raw_prompt_ids)
                XCTAssertEqual(object["output_ids"] as? [Int], reference.raw_output_ids, model.lastPathComponent)
                XCTAssertNotNil(object["text"] as? String)

                let chat = try CommandRunner.run(["generate", "--guard", "off", "--model", model.path, "--json", "--ignore-eos",
                                                  "--max-tokens", String(reference.chat_output_ids.count), "--prompt", reference.text])
                let chatObject = try XCTUnwrap(CommandRunner.json(chat.stdout) as? [String: Any], chat.stderr)
                XCTAssertEqual(chatObject["prompt_ids"] as? [Int], reference.chat_prompt_ids)
                XCTAssertEqual(chatObject["output_ids"] as? [Int], reference.chat_output_ids, model.lastPathComponent)
            }
        }
    }

    func testPromptIsReadFromStandardInput() throws {
        let model = try XCTUnwrap(models.first)
        let reference = try XCTUnwrap(try expected(model).first)
        let output = try CommandRunner.run(["generate", "--guard", "off", "--model", model.path, "--raw", "--json", "--ignore-eos", "--max-tokens", "3"],
                                           stdin: reference.text + "\n")
        XCTAssertEqual(output.status, 0, output.stderr)
        let object = try XCTUnwrap(CommandRunner.json(output.stdout) as? [String: Any])
        XCTAssertEqual(object["prompt_ids"] as? [Int], reference.raw_prompt_ids)
    }

    func testInspectReportsTheArchitecture() throws {
        let model = try XCTUnwrap(models.first)
        let output = try CommandRunner.run(["inspect", "--model", model.path, "--json"])
        XCTAssertEqual(output.status, 0, output.stderr)
        let object = try XCTUnwrap(CommandRunner.json(output.stdout) as? [String: Any])
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: model.appendingPathComponent("config.json"))) as? [String: Any])
        XCTAssertEqual(object["architecture"] as? String, (config["architectures"] as? [String])?.first)
        XCTAssertEqual(object["layers"] as? Int, config["num_hidden_layers"] as? Int)
        XCTAssertGreaterThan(object["parameters"] as? Int ?? 0, 0)
    }

    func testBenchReportsThroughput() throws {
        let model = try XCTUnwrap(models.first)
        let output = try CommandRunner.run(["bench", "--model", model.path, "--json", "--prompt-tokens", "16", "--gen-tokens", "4",
                                            "--repetitions", "1", "--threads", "1"])
        XCTAssertEqual(output.status, 0, output.stderr)
        let object = try XCTUnwrap(CommandRunner.json(output.stdout) as? [String: Any])
        XCTAssertGreaterThan(object["prefill_tokens_per_second"] as? Double ?? 0, 0)
        XCTAssertGreaterThan(object["decode_tokens_per_second"] as? Double ?? 0, 0)
        XCTAssertGreaterThan(object["peak_rss_bytes"] as? Int ?? 0, 0)
        // The command relaunches itself when OpenBLAS fell back to kernels older than this CPU (BLASKernelSet).
        let kernels = try XCTUnwrap(object["blas_kernels"] as? String)
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil {
            XCTAssertNil(BLASKernelSet.better(than: kernels), "OpenBLAS ran its \(kernels) kernels on a CPU that has better ones")
        }
    }

    func testBenchWithTheGuardReportsTheGuardedThroughputAndItsRatio() throws {
        let demo = CommandRunner.fixtures.deletingLastPathComponent().deletingLastPathComponent()
        let output = try CommandRunner.run(["bench", "--model", demo.appendingPathComponent("models/demo").path, "--json",
                                            "--prompt-tokens", "16", "--gen-tokens", "4", "--repetitions", "1", "--threads", "1",
                                            "--guarded", "--generator", demo.appendingPathComponent("adapters/telelora").path,
                                            "--guard-rule", "recorded"])
        XCTAssertEqual(output.status, 0, output.stderr)
        let object = try XCTUnwrap(CommandRunner.json(output.stdout) as? [String: Any])
        let plain = try XCTUnwrap(object["decode_tokens_per_second"] as? Double)
        let guarded = try XCTUnwrap(object["guarded_decode_tokens_per_second"] as? Double)
        XCTAssertGreaterThan(guarded, 0)
        XCTAssertEqual(try XCTUnwrap(object["guarded_decode_ratio"] as? Double), guarded / plain, accuracy: 1e-9)
        let specData = try Data(contentsOf: demo.appendingPathComponent("adapters/telelora/spec.json"))
        let spec = try XCTUnwrap(try JSONSerialization.jsonObject(with: specData) as? [String: Any])
        let shipped = try TokenVeto(ratio: try XCTUnwrap(spec["veto_ratio"] as? Double), window: try XCTUnwrap(spec["veto_window"] as? Int),
                                    evidence: try XCTUnwrap(spec["veto_evidence"] as? Double))
        XCTAssertEqual(object["guarded_decoding"] as? String, "\(shipped): original and patched streams side by side",
                       "the shipped guard decodes by the veto its spec records")
        let missing = try CommandRunner.run(["bench", "--model", demo.appendingPathComponent("models/demo").path, "--guarded",
                                             "--generator", "/nonexistent/telelora", "--repetitions", "1",
                                             "--prompt-tokens", "16", "--gen-tokens", "4"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/telelora"), missing.stderr)
    }

    func testMissingModelDirectoryFailsWithItsPath() throws {
        let output = try CommandRunner.run(["generate", "--guard", "off", "--model", "/nonexistent/model", "--prompt", "hi"])
        XCTAssertNotEqual(output.status, 0)
        XCTAssertTrue(output.stderr.contains("/nonexistent/model"), output.stderr)
    }

    func testBadLoRAArgumentFailsWithItsPath() throws {
        let model = try XCTUnwrap(models.first)
        let output = try CommandRunner.run(["generate", "--guard", "off", "--model", model.path, "--prompt", "hi", "--lora", "/nonexistent/adapter:0.5"])
        XCTAssertNotEqual(output.status, 0)
        XCTAssertTrue(output.stderr.contains("/nonexistent/adapter/adapter_config.json"), output.stderr)
    }

    /// --merge-lora makes the adapter part of the model: greedy output equals --lora's with the guard off, and a bad
    /// path is named.
    func testMergeLoRAAnswersAsTheAdapterAppliedAndNamesABadPath() throws {
        let model = try XCTUnwrap(models.first)
        let adapter = model.appendingPathComponent("lora").path
        func text(_ extra: [String]) throws -> String {
            let result = try CommandRunner.run(["generate", "--guard", "off", "--model", model.path, "--json", "--max-tokens", "12",
                                                "--prompt", "Once upon a time"] + extra)
            XCTAssertEqual(result.status, 0, result.stderr)
            return try XCTUnwrap((try CommandRunner.json(result.stdout) as? [String: Any])?["text"] as? String)
        }
        let merged = try text(["--merge-lora", adapter + ":0.7"])
        XCTAssertEqual(merged, try text(["--lora", adapter + ":0.7"]))
        XCTAssertNotEqual(merged, try text([]))
        let bad = try CommandRunner.run(["generate", "--guard", "off", "--model", model.path, "--prompt", "hi", "--merge-lora", "/nonexistent/trojan"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("/nonexistent/trojan/adapter_config.json"), bad.stderr)
    }

    func testInvalidSamplingFlagIsNamed() throws {
        let model = try XCTUnwrap(models.first)
        let output = try CommandRunner.run(["generate", "--guard", "off", "--model", model.path, "--prompt", "hi", "--top-p", "0"])
        XCTAssertNotEqual(output.status, 0)
        XCTAssertTrue(output.stderr.contains("top_p"), output.stderr)
    }

    func testOverLongPromptIsRefused() throws {
        let model = try XCTUnwrap(models.first)
        let longText = String(repeating: "word ", count: 5000)
        let output = try CommandRunner.run(["generate", "--guard", "off", "--model", model.path, "--raw", "--prompt", longText])
        XCTAssertNotEqual(output.status, 0)
        XCTAssertTrue(output.stderr.contains("context"), output.stderr)
    }
}
