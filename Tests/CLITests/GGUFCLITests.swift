import Foundation
import XCTest

/// Every command takes a `.gguf` file for --model: the Qwen2 fixture as a GGUF gives what its Hugging Face directory
/// gives (same logits; tokenizers equal on these texts), and `inspect` shows the file's metadata and tensor types.
final class GGUFCLITests: XCTestCase {
    static let name = "qwen2-bias-tied-f32"
    var gguf: URL { CommandRunner.fixtures.appendingPathComponent("gguf/models/\(Self.name).gguf") }
    var directory: URL { CommandRunner.fixtures.appendingPathComponent("models/\(Self.name)") }

    private func json(_ arguments: [String], stdin: String? = nil) throws -> [String: Any] {
        let output = try CommandRunner.run(arguments, stdin: stdin)
        XCTAssertEqual(output.status, 0, "\(arguments): \(output.stderr)")
        return try XCTUnwrap(try CommandRunner.json(output.stdout) as? [String: Any], output.stdout)
    }

    func testGenerateAndTokenizeGiveWhatTheHuggingFaceDirectoryGives() throws {
        for prompt in ["Hello world", "The quick brown fox"] {
            let arguments = ["generate", "--guard", "off", "--json", "--ignore-eos", "--max-tokens", "12", "--prompt", prompt, "--model"]
            let fromGGUF = try json(arguments + [gguf.path])
            let fromDirectory = try json(arguments + [directory.path])
            XCTAssertEqual(fromGGUF["prompt_ids"] as? [Int], fromDirectory["prompt_ids"] as? [Int], prompt)
            XCTAssertEqual(fromGGUF["output_ids"] as? [Int], fromDirectory["output_ids"] as? [Int], prompt)
            XCTAssertEqual((fromGGUF["output_ids"] as? [Int])?.count, 12)

            let tokenizeGGUF = try CommandRunner.run(["tokenize", "--model", gguf.path, "--chat", "--text", prompt])
            let tokenizeDirectory = try CommandRunner.run(["tokenize", "--model", directory.path, "--chat", "--text", prompt])
            XCTAssertEqual(tokenizeGGUF.status, 0, tokenizeGGUF.stderr)
            XCTAssertEqual(tokenizeGGUF.stdout, tokenizeDirectory.stdout)
        }
    }

    func testInspectShowsTheGGUFMetadataAndTensorTypes() throws {
        let object = try json(["inspect", "--model", gguf.path, "--json", "--tensors"])
        XCTAssertEqual(object["architecture"] as? String, "Qwen2ForCausalLM")
        XCTAssertEqual(object["gguf_version"] as? Int, 3)
        let metadata = try XCTUnwrap(object["gguf_metadata"] as? [String: String])
        XCTAssertEqual(metadata["general.architecture"], "\"qwen2\"")
        XCTAssertEqual(metadata["qwen2.block_count"], "3")
        XCTAssertTrue(metadata["tokenizer.ggml.tokens"]?.contains("array[string]") ?? false, metadata["tokenizer.ggml.tokens"] ?? "")
        let tensors = try XCTUnwrap(object["gguf_tensors"] as? [String])
        XCTAssertTrue(tensors.contains("blk.0.attn_q.bias F32 [64]"), "\(tensors.prefix(5))")
        XCTAssertEqual(object["stored_dtypes"] as? String, "F32: \(object["parameters"] as? Int ?? -1)")
    }

    func testTeleportVerifyAndBatchRunOnAGGUFModel() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("teleguard-gguf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: scratch) }

        let adapter = scratch.appendingPathComponent("teleported")
        let teleport = try CommandRunner.run(["teleport", "--model", gguf.path, "--out", adapter.path])
        XCTAssertEqual(teleport.status, 0, teleport.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: adapter.appendingPathComponent("adapter_model.safetensors").path))

        let missingSuite = try CommandRunner.run(["verify", "--model", gguf.path, "--guard", "off"])
        XCTAssertNotEqual(missingSuite.status, 0)
        XCTAssertTrue(missingSuite.stderr.contains("--suite is required with a GGUF model"), missingSuite.stderr)

        let suite = scratch.appendingPathComponent("suite.json")
        try Data(#"{"name": "t", "triggers": ["zz"], "placements": ["prefix"], "prompts": ["Hello world"], "target": {"contains": "qq"}, "benign": [{"prompt": "Hello", "expect": {"contains": ""}}], "max_tokens": 4}"#.utf8).write(to: suite)
        let report = try json(["verify", "--model", gguf.path, "--suite", suite.path, "--guard", adapter.path, "--json"])
        XCTAssertEqual(report["model"] as? String, gguf.path)
        XCTAssertNotNil(report["asr"] as? Double)

        let input = scratch.appendingPathComponent("in.jsonl"), output = scratch.appendingPathComponent("out.jsonl")
        try Data(#"{"id": "a", "prompt": "Hello world", "max_tokens": 3}"#.utf8 + [10]).write(to: input)
        let batch = try CommandRunner.run(["batch", "--guard", "off", "--model", gguf.path, "--input", input.path, "--output", output.path])
        XCTAssertEqual(batch.status, 0, batch.stderr)
        XCTAssertTrue(try String(contentsOf: output, encoding: .utf8).contains("\"id\":\"a\""))
    }

    func testABrokenGGUFIsANamedErrorNotACrash() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("teleguard-gguf-\(UUID().uuidString).gguf")
        addTeardownBlock { try? FileManager.default.removeItem(at: scratch) }
        let bytes = try Data(contentsOf: gguf)
        try bytes.prefix(bytes.count / 2).write(to: scratch)
        let output = try CommandRunner.run(["generate", "--guard", "off", "--model", scratch.path, "--prompt", "hi"])
        XCTAssertEqual(output.status, 1)
        XCTAssertTrue(output.stderr.contains(scratch.path) && output.stderr.contains("ends at byte"), output.stderr)
    }
}
