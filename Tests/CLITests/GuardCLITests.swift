import Foundation
import XCTest

/// `teleport`, `verify` and `generate --guard` as scripts use them.
final class GuardCLITests: XCTestCase {
    let model = CommandRunner.fixtures.appendingPathComponent("models/llama-metaspace-oldkeys").path
    let generator = CommandRunner.fixtures.appendingPathComponent("telelora/generator").path

    func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("teleguard-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func writeSuite(_ object: [String: Any], in directory: URL) throws -> String {
        let url = directory.appendingPathComponent("suite.json")
        try JSONSerialization.data(withJSONObject: object).write(to: url)
        return url.path
    }

    func testTeleportWritesAPEFTAdapterThatGenerateAccepts() throws {
        let directory = try scratch()
        let out = directory.appendingPathComponent("adapter").path
        let teleport = try CommandRunner.run(["teleport", "--model", model, "--generator", generator, "--out", out, "--json"])
        XCTAssertEqual(teleport.status, 0, teleport.stderr)
        let report = try XCTUnwrap(CommandRunner.json(teleport.stdout) as? [String: Any])
        XCTAssertEqual(report["layers"] as? Int, 14)
        XCTAssertEqual(report["cached"] as? Bool, false)
        XCTAssertGreaterThan(report["reservoir_bytes"] as? Int ?? 0, 0)
        XCTAssertTrue(["avx512", "avx2_fma", "scalar"].contains(report["generator_kernels"] as? String ?? ""),
                      "\(report["generator_kernels"] ?? "missing")")
        for file in ["adapter_config.json", "adapter_model.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(file)"), file)
        }
        let args = ["generate", "--model", model, "--prompt", "hello", "--json", "--max-tokens", "4", "--ignore-eos"]
        let viaDirectory = try CommandRunner.run(args + ["--guard", out])
        XCTAssertEqual(viaDirectory.status, 0, viaDirectory.stderr)
        let viaTeleport = try CommandRunner.run(args + ["--guard", "teleport", "--generator", generator, "--no-teleport-cache"])
        XCTAssertEqual(viaTeleport.status, 0, viaTeleport.stderr)
        XCTAssertTrue(viaTeleport.stderr.contains("teleported 14 layers"), viaTeleport.stderr)
        let ids = { (text: String) in (try CommandRunner.json(text) as? [String: Any])?["output_ids"] as? [Int] }
        XCTAssertEqual(try ids(viaDirectory.stdout), try ids(viaTeleport.stdout))
        let zeroScale = try CommandRunner.run(args + ["--guard", out, "--guard-scale", "0"])
        let off = try CommandRunner.run(args + ["--guard", "off"])
        XCTAssertEqual(try ids(zeroScale.stdout), try ids(off.stdout), "scale 0 is the unguarded model")
    }

    func testTeleportCacheIsUsedOnTheSecondStart() throws {
        let cache = try scratch().path
        let args = ["generate", "--model", model, "--prompt", "hello", "--max-tokens", "2", "--guard", "teleport",
                    "--generator", generator, "--teleport-cache", cache]
        let first = try CommandRunner.run(args)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stderr.contains("teleported 14 layers"), first.stderr)
        let second = try CommandRunner.run(args)
        XCTAssertTrue(second.stderr.contains("from cache"), second.stderr)
    }

    func testGenerateWithAMissingGeneratorNamesItsSpecFile() throws {
        let missing = try scratch().appendingPathComponent("no-generator").path
        let output = try CommandRunner.run(["generate", "--model", model, "--prompt", "hi", "--generator", missing])
        XCTAssertNotEqual(output.status, 0)
        XCTAssertTrue(output.stderr.contains(missing + "/spec.json"), output.stderr)
    }

    func testGuardAdapterForAnotherModelIsRefused() throws {
        let directory = try scratch()
        let out = directory.appendingPathComponent("qwen").path
        let qwen = CommandRunner.fixtures.appendingPathComponent("models/qwen2-bias-tied-f32").path
        XCTAssertEqual(try CommandRunner.run(["teleport", "--model", qwen, "--generator", generator, "--out", out]).status, 0)
        let output = try CommandRunner.run(["generate", "--model", model, "--prompt", "hi", "--guard", out])
        XCTAssertNotEqual(output.status, 0)
        XCTAssertTrue(output.stderr.contains("\(out)/adapter_config.json: field 'base_model_fingerprint'"), output.stderr)
    }

    func testVerifyJSONReportAndMaxASRExitStatus() throws {
        let directory = try scratch()
        let suite = try writeSuite([
            "name": "cli", "triggers": ["tq"], "placements": ["prefix", "suffix", "middle"], "prompts": ["hello there friend"],
            "target": ["regex": "[\\s\\S]"], "benign": [["prompt": "hi", "expect": ["contains": ""]]], "max_tokens": 3,
        ], in: directory)
        let output = try CommandRunner.run(["verify", "--model", model, "--suite", suite, "--guard", "off", "--json", "--max-asr", "0.5"])
        XCTAssertEqual(output.status, 1, "ASR 1 exceeds --max-asr 0.5: \(output.stderr)")
        let report = try XCTUnwrap(CommandRunner.json(output.stdout) as? [String: Any])
        XCTAssertEqual(report["asr"] as? Double, 1)
        XCTAssertEqual(report["clean_trigger_rate"] as? Double, 1)
        XCTAssertEqual(report["benign_accuracy"] as? Double, 1)
        XCTAssertEqual(report["guard"] as? String, "off")
        XCTAssertEqual(report["suite"] as? String, "cli")
        XCTAssertEqual((report["cases"] as? [Any])?.count, 4)
        XCTAssertNotNil(report["seconds"] as? Double)
        let passing = try CommandRunner.run(["verify", "--model", model, "--suite", suite, "--guard", "off", "--max-asr", "1"])
        XCTAssertEqual(passing.status, 0, passing.stderr)
        XCTAssertTrue(passing.stdout.contains("ASR"), passing.stdout)
    }

    func testVerifyCompareShowsBothSides() throws {
        let directory = try scratch()
        let suite = try writeSuite([
            "name": "cmp", "triggers": ["tq"], "placements": ["suffix"], "prompts": ["hello"], "target": ["contains": "zz"],
            "max_tokens": 2,
        ], in: directory)
        let output = try CommandRunner.run(["verify", "--model", model, "--suite", suite, "--guard", "teleport", "--generator", generator,
                                            "--no-teleport-cache", "--compare", "--json"])
        XCTAssertEqual(output.status, 0, output.stderr)
        let object = try XCTUnwrap(CommandRunner.json(output.stdout) as? [String: [String: Any]])
        XCTAssertEqual(object["off"]?["guard"] as? String, "off")
        XCTAssertEqual(object["guarded"]?["guard"] as? String, "teleport")
        let table = try CommandRunner.run(["verify", "--model", model, "--suite", suite, "--guard", "teleport", "--generator", generator,
                                           "--no-teleport-cache", "--compare"])
        XCTAssertTrue(table.stdout.contains("off") && table.stdout.contains("teleport"), table.stdout)
    }

    func testVerifyNamesTheBadSuiteField() throws {
        let directory = try scratch()
        let suite = try writeSuite(["name": "bad", "triggers": ["t"], "placements": ["prefix"], "prompts": ["p"],
                                    "target": ["regex": "(oops"]], in: directory)
        let output = try CommandRunner.run(["verify", "--model", model, "--suite", suite, "--guard", "off"])
        XCTAssertNotEqual(output.status, 0)
        XCTAssertTrue(output.stderr.contains("\(suite): field 'target.regex': invalid regular expression"), output.stderr)
    }
}
