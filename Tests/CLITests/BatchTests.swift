import Foundation
import XCTest

/// `teleguard batch`: one result line per request in input order, error records for bad lines, resumable.
final class BatchTests: XCTestCase {
    let model = CommandRunner.fixtures.appendingPathComponent("models/llama3-sharded-bf16")
    let prompt = "The license grants permission to copy."

    func reference(raw: Bool, maxTokens: Int) throws -> String {
        let result = try CommandRunner.run(["generate", "--guard", "off", "--model", model.path, "--json", "--max-tokens", String(maxTokens),
                                            "--prompt", prompt] + (raw ? ["--raw"] : []))
        return try XCTUnwrap((try CommandRunner.json(result.stdout) as? [String: Any])?["text"] as? String, result.stderr)
    }

    func records(_ url: URL) throws -> [[String: Any]] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func testRoundTripWithABadLineThenResume() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("requests.jsonl"), output = folder.appendingPathComponent("results.jsonl")
        var lines = [
            #"{"id": "a", "prompt": "\#(prompt)", "max_tokens": 6, "temperature": 0}"#,
            #"{"id": "b", "prompt": "#,
            #"{"id": "c", "prompt": "x", "temperature": "hot"}"#,
            "",
            #"{"messages": [{"role": "user", "content": "\#(prompt)"}], "max_tokens": 7, "stop": []}"#,
        ]
        try (lines.joined(separator: "\n") + "\n").write(to: input, atomically: true, encoding: .utf8)
        let run = try CommandRunner.run(["batch", "--guard", "off", "--model", model.path, "--input", input.path, "--output", output.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("2 answered, 2 failed, 0 already"), run.stderr)

        let results = try records(output)
        XCTAssertEqual(results.map { $0["id"] as? String }, ["a", "line-2", "c", "line-5"])
        XCTAssertEqual(results[0]["text"] as? String, try reference(raw: true, maxTokens: 6))
        XCTAssertEqual(results[0]["line"] as? Int, 1)
        XCTAssertEqual(results[0]["guard"] as? String, "off")
        XCTAssertEqual(results[0]["prompt_tokens"] as? Int, 10)
        XCTAssertNotNil(results[0]["finish_reason"] as? String)
        XCTAssertNotNil(results[0]["seconds"] as? Double)
        let badJSON = try XCTUnwrap(results[1]["error"] as? [String: Any])
        XCTAssertEqual(badJSON["field"] as? String, "(line)")
        XCTAssertTrue((badJSON["message"] as? String)?.hasPrefix("line 2: ") == true, "\(badJSON)")
        let badField = try XCTUnwrap(results[2]["error"] as? [String: Any])
        XCTAssertEqual(badField["field"] as? String, "temperature")
        XCTAssertTrue((badField["message"] as? String)?.contains("line 3") == true)
        XCTAssertEqual(results[3]["text"] as? String, try reference(raw: false, maxTokens: 7))

        // An interrupted run left half a record; a new request was added. Only the new one runs.
        let handle = try FileHandle(forWritingTo: output)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"id": "e", "te"#.utf8))
        try handle.close()
        lines.append(#"{"id": "e", "prompt": "hello", "max_tokens": 3}"#)
        try (lines.joined(separator: "\n") + "\n").write(to: input, atomically: true, encoding: .utf8)
        let resumed = try CommandRunner.run(["batch", "--guard", "off", "--model", model.path, "--input", input.path, "--output", output.path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("1 answered, 0 failed, 4 already"), resumed.stderr)
        let after = try records(output)
        XCTAssertEqual(after.map { $0["id"] as? String }, ["a", "line-2", "c", "line-5", "e"])
        XCTAssertLessThanOrEqual(try XCTUnwrap(after[4]["completion_tokens"] as? Int), 3)
    }

    func testUnreadableInputIsRefused() throws {
        let result = try CommandRunner.run(["batch", "--guard", "off", "--model", model.path, "--input", "/nonexistent/in.jsonl", "--output", "/tmp/x.jsonl"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--input /nonexistent/in.jsonl"), result.stderr)
    }
}
