import Foundation
import XCTest

/// The guard in chat, batch and serve: a PEFT adapter directory as the guard (`--guard DIR`), switched per
/// request and by command. Guard off must give exactly the base model's answer.
final class GuardWiringTests: XCTestCase {
    let model = CommandRunner.fixtures.appendingPathComponent("models/llama3-sharded-bf16")
    var guardAdapter: String { model.appendingPathComponent("lora2").path }
    let prompt = "The license grants permission to copy."

    func text(guardOn: Bool, maxTokens: Int) throws -> String {
        let result = try CommandRunner.run(["generate", "--guard", guardOn ? guardAdapter : "off", "--model", model.path, "--json",
                                            "--max-tokens", String(maxTokens), "--prompt", prompt])
        XCTAssertEqual(result.status, 0, result.stderr)
        return try XCTUnwrap((try CommandRunner.json(result.stdout) as? [String: Any])?["text"] as? String)
    }

    func testServerSwitchesTheGuardPerRequestAndThroughAdapters() throws {
        let server = try ServerProcess(["--model", model.path, "--guard", guardAdapter])
        defer { server.stop() }
        let url = server.baseURL + "/v1/chat/completions"
        func ask(_ guardField: String) throws -> (text: String?, enabled: Bool?) {
            let body = #"{"messages": [{"role": "user", "content": "\#(prompt)"}], "max_tokens": 8, "temperature": 0\#(guardField)}"#
            let object = try HTTP.request("POST", url, body: body).json()
            let message = (object["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any]
            return (message?["content"] as? String, (object["guard"] as? [String: Any])?["enabled"] as? Bool)
        }
        let guarded = try ask("")
        XCTAssertEqual(guarded.enabled, true)
        XCTAssertEqual(guarded.text, try text(guardOn: true, maxTokens: 8))
        let raw = try ask(#", "guard": "off""#)
        XCTAssertEqual(raw.enabled, false)
        XCTAssertEqual(raw.text, try text(guardOn: false, maxTokens: 8))
        // The per-request setting does not stick.
        XCTAssertEqual(try ask("").text, guarded.text)

        let switched = try HTTP.request("POST", server.baseURL + "/adapters", body: #"{"guard": {"enabled": false}}"#)
        XCTAssertEqual(switched.status, 200, switched.body)
        XCTAssertEqual((try switched.json()["guard"] as? [String: Any])?["enabled"] as? Bool, false)
        XCTAssertEqual(try ask("").text, raw.text)
        let health = try HTTP.request("GET", server.baseURL + "/health").json()
        XCTAssertEqual((health["guard"] as? [String: Any])?["loaded"] as? Bool, true)
    }

    func testBatchRecordsTheGuardEachLineRanWith() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("in.jsonl"), output = folder.appendingPathComponent("out.jsonl")
        try ([#"{"id": "on", "messages": [{"role": "user", "content": "\#(prompt)"}], "max_tokens": 6}"#,
              #"{"id": "off", "messages": [{"role": "user", "content": "\#(prompt)"}], "max_tokens": 6, "guard": "off"}"#]
            .joined(separator: "\n") + "\n").write(to: input, atomically: true, encoding: .utf8)
        let run = try CommandRunner.run(["batch", "--guard", guardAdapter, "--model", model.path, "--input", input.path, "--output", output.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let records = try String(contentsOf: output, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(records.map { $0["guard"] as? String }, ["on", "off"])
        XCTAssertEqual(records[0]["text"] as? String, try text(guardOn: true, maxTokens: 6))
        XCTAssertEqual(records[1]["text"] as? String, try text(guardOn: false, maxTokens: 6))
    }

    func testChatGuardCommandsCompareAndVerify() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let suite = folder.appendingPathComponent("suite.json")
        try #"{"name": "tiny", "triggers": ["cf"], "placements": ["prefix"], "prompts": ["hello world"], "target": {"contains": "the"}, "benign": [{"prompt": "hi", "expect": {"contains": ""}}], "max_tokens": 4}"#
            .write(to: suite, atomically: true, encoding: .utf8)
        let script = """
        \(prompt)
        /compare
        /guard off
        /stats
        /verify \(suite.path)
        """
        let result = try CommandRunner.run(["chat", "--guard", guardAdapter, "--model", model.path, "--max-tokens", "6",
                                            "--temperature", "0", "--no-history"], stdin: script + "\n")
        XCTAssertEqual(result.status, 0, result.stderr)
        let guarded = try text(guardOn: true, maxTokens: 6), raw = try text(guardOn: false, maxTokens: 6)
        XCTAssertTrue(result.stdout.hasPrefix(guarded + "\n── raw ──\n" + raw + "\n── guarded (\(guardAdapter)) ──\n" + guarded + "\n"), result.stdout)
        XCTAssertTrue(result.stderr.contains("guard: off (\(guardAdapter))"), result.stderr)
        XCTAssertTrue(result.stdout.contains("ASR"), result.stdout)
        XCTAssertTrue(result.stdout.contains("cases (guard \(guardAdapter)):"), result.stdout)
        XCTAssertTrue(result.stdout.contains("cases (guard off):"), result.stdout)
    }
}
