import Foundation
import XCTest

/// `teleguard chat` driven through piped standard input: answers on standard output, notes on standard error.
final class ChatREPLTests: XCTestCase {
    let model = CommandRunner.fixtures.appendingPathComponent("models/llama3-sharded-bf16")
    var chatArguments: [String] { ["chat", "--guard", "off", "--model", model.path, "--max-tokens", "10", "--temperature", "0", "--no-history"] }

    func generated(_ prompt: String, system: String? = nil, maxTokens: Int = 10) throws -> String {
        let result = try CommandRunner.run(["generate", "--guard", "off", "--model", model.path, "--max-tokens", String(maxTokens), "--prompt", prompt]
                                           + (system.map { ["--system", $0] } ?? []))
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout
    }

    /// The answer to a whole conversation prefilled from scratch (batch keeps no cache between requests).
    func answerFromScratch(_ messages: [[String: String]]) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("in.jsonl"), output = folder.appendingPathComponent("out.jsonl")
        let line = try JSONSerialization.data(withJSONObject: ["messages": messages, "max_tokens": 10, "temperature": 0])
        try line.write(to: input)
        let result = try CommandRunner.run(["batch", "--guard", "off", "--model", model.path, "--input", input.path, "--output", output.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let record = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any])
        return try XCTUnwrap(record["text"] as? String, "\(record)")
    }

    func testMultiTurnResetSystemStatsAndQuit() throws {
        let first = try generated("Hello there")
        let script = """
        Hello there
        How are you
        /stats
        /reset
        Hello there
        /reset
        /system You are terse.
        Hello there
        /quit
        Never answered
        """
        let result = try CommandRunner.run(chatArguments, stdin: script + "\n")
        XCTAssertEqual(result.status, 0, result.stderr)

        let firstText = String(first.dropLast())
        let second = try answerFromScratch([["role": "user", "content": "Hello there"], ["role": "assistant", "content": firstText],
                                            ["role": "user", "content": "How are you"]])
        let terse = try generated("Hello there", system: "You are terse.")
        XCTAssertEqual(result.stdout, first + second + "\n" + first + terse)

        XCTAssertTrue(result.stderr.contains("conversation reset"), result.stderr)
        XCTAssertTrue(result.stderr.contains("system prompt set"), result.stderr)
        XCTAssertTrue(result.stderr.contains("4 messages"), result.stderr)
        XCTAssertTrue(result.stderr.contains("guard: none"), result.stderr)
        // The second turn reused the first turn's keys and values.
        let reused = result.stderr.firstMatch(of: #/, (\d+) reused from the cache/#).flatMap { Int($0.1) } ?? 0
        XCTAssertGreaterThan(reused, 10, result.stderr)
    }

    /// Under a guard scoped to generated tokens, the next turn reads the previous answer as prompt, unpatched. The
    /// shipped guard decodes by a veto, which leaves the original model's reading of the answer in the cache, so the
    /// whole first turn is reused; without the veto only the first prompt is. Either way the second answer equals the
    /// whole conversation's answer from scratch with the same guard.
    func testAScopedGuardReadsEarlierAnswersAsPrompt() throws {
        let repository = CommandRunner.fixtures.deletingLastPathComponent().deletingLastPathComponent()
        let demo = repository.appendingPathComponent("models/demo").path
        let shipped = repository.appendingPathComponent("adapters/telelora")
        let spec = try JSONSerialization.jsonObject(with: Data(contentsOf: shipped.appendingPathComponent("spec.json"))) as? [String: Any]
        XCTAssertEqual(spec?["patch_positions"] as? String, "generated")
        XCTAssertNotNil(spec?["veto_ratio"] as? Double, "the shipped guard decodes by a veto")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let withoutVeto = folder.appendingPathComponent("no-veto")
        try FileManager.default.copyItem(at: shipped, to: withoutVeto)
        var edited = try XCTUnwrap(spec)
        for key in ["veto_ratio", "veto_window", "veto_evidence"] { edited.removeValue(forKey: key) }
        try JSONSerialization.data(withJSONObject: edited).write(to: withoutVeto.appendingPathComponent("spec.json"))

        let script = "Calculate 9 plus 9.\n/stats\nCalculate 2 plus 2.\n/stats\n/quit\n"
        /// (prompt tokens, reused tokens) of each turn's /stats line, and the answers.
        /// The rule as each generator records it: the shipped veto, none for the copy without it.
        func chat(_ guardValue: String, generator: URL = shipped) throws -> (stats: [(Int, Int)], answers: [String]) {
            let run = try CommandRunner.run(["chat", "--model", demo, "--max-tokens", "10", "--temperature", "0", "--no-history",
                                             "--guard", guardValue, "--generator", generator.path, "--no-teleport-cache",
                                             "--guard-rule", "recorded"], stdin: script)
            XCTAssertEqual(run.status, 0, run.stderr)
            let stats = run.stderr.matches(of: #/\((\d+) prompt tokens, (\d+) reused/#).map { (Int($0.1)!, Int($0.2)!) }
            return (stats, run.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init))
        }
        /// The second answer of the same conversation run from scratch in batch mode.
        func fromScratch(_ firstAnswer: String, generator: URL) throws -> String? {
            let name = generator.lastPathComponent
            let input = folder.appendingPathComponent("\(name).in.jsonl"), output = folder.appendingPathComponent("\(name).out.jsonl")
            let messages = [["role": "user", "content": "Calculate 9 plus 9."], ["role": "assistant", "content": firstAnswer],
                            ["role": "user", "content": "Calculate 2 plus 2."]]
            try JSONSerialization.data(withJSONObject: ["messages": messages, "max_tokens": 10, "temperature": 0]).write(to: input)
            let batch = try CommandRunner.run(["batch", "--model", demo, "--input", input.path, "--output", output.path,
                                               "--guard", "teleport", "--generator", generator.path, "--no-teleport-cache",
                                               "--guard-rule", "recorded"])
            XCTAssertEqual(batch.status, 0, batch.stderr)
            let record = try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any]
            return record?["text"] as? String
        }
        let vetoed = try chat("teleport"), scoped = try chat("teleport", generator: withoutVeto), plain = try chat("off")
        for run in [vetoed, scoped, plain] { XCTAssertEqual(run.stats.count, 2) }
        XCTAssertEqual(scoped.stats[1].1, scoped.stats[0].0, "only the first prompt is reused under the scoped guard")
        XCTAssertGreaterThan(vetoed.stats[1].1, vetoed.stats[0].0, "under the veto the first answer is reused too")
        XCTAssertGreaterThan(plain.stats[1].1, plain.stats[0].0, "without a guard the first answer is reused too")
        for (run, generator) in [(vetoed, shipped), (scoped, withoutVeto)] {
            XCTAssertEqual(run.answers.count, 2, "\(run.answers)")
            XCTAssertEqual(try fromScratch(run.answers[0], generator: generator), run.answers.last)
        }
    }

    func testCommandErrorsAdaptersAndGuardCompare() throws {
        let adapter = model.appendingPathComponent("lora").path
        let script = """
        /temp hot
        /nope
        /adapters load \(adapter) 0.5
        /adapters
        /adapters scale 1 0
        /adapters unload 3
        /adapters unload 1
        /guard off
        Hello there
        /compare
        /guard scale 2
        /stats
        """
        let result = try CommandRunner.run(["chat", "--model", model.path, "--max-tokens", "6", "--temperature", "0", "--no-history",
                                            "--guard", model.appendingPathComponent("lora2").path], stdin: script + "\n")
        XCTAssertEqual(result.status, 0, result.stderr)
        for expected in ["usage: /temp X", "unknown command /nope", "adapter 1: lora at scale 0.5", "1: lora scale 0.5",
                         "adapter 1: scale 0.0", "no adapter 3: loaded are 1", "adapter 1 removed", "guard: off",
                         "guard: off"] {
            XCTAssertTrue(result.stderr.contains(expected), "missing '\(expected)' in:\n\(result.stderr)")
        }
        XCTAssertTrue(result.stdout.contains("── raw ──") && result.stdout.contains("── guarded ("), result.stdout)
        // Guarded off, the first answer is the base model's; /compare's raw answer is the same text.
        let base = try generated("Hello there", maxTokens: 6)
        XCTAssertTrue(result.stdout.hasPrefix(base), result.stdout)
        XCTAssertTrue(result.stdout.contains("── raw ──\n" + base), result.stdout)
    }

    func testGuardOnWithoutAGuardIsRefused() throws {
        let result = try CommandRunner.run(chatArguments, stdin: "/guard on\n/compare\n")
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("no guard is loaded"), result.stderr)
    }
}
