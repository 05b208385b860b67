import ArgumentParser
import Foundation
import Guard
import Runtime

struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Answer a JSONL file of requests, one result line per request, in input order.",
        discussion: """
        Each input line is an object with "prompt" (raw text) or "messages" (chat), and optionally "id", \
        "max_tokens", "temperature", "top_p", "top_k", "seed", "stop", "guard" ("on"/"off"). Each output line has \
        "id", "line", "text", "prompt_tokens", "completion_tokens", "finish_reason", "guard", "guard_replaced_tokens", "guard_replaced_positions" and "seconds"; a bad \
        line gets {"id", "line", "error": {"field", "message"}} and the rest still run. A line without "id" is \
        known as "line-N". Running again with the same --output skips ids already answered there.
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Requests, one JSON object a line.")
    var input: String

    @Option(name: .long, help: "Results, one JSON object a line (appended to when it exists).")
    var output: String

    @Option(name: .long, help: "max_tokens for requests that do not set it.")
    var maxTokens: Int = 256

    @Option(name: .long, help: "Longest prompt accepted, in tokens. Default: the model's context minus one.")
    var maxPromptTokens: Int?

    @OptionGroup var guardOptions: GuardOptions

    @Option(name: .long, help: "Apply a PEFT LoRA adapter, optionally scaled: DIR[:SCALE] (repeatable).")
    var lora: [LoRAArgument] = []

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be ≥ 0, found \(maxTokens)") }
        if let maxPromptTokens, maxPromptTokens < 1 { throw ValidationError("--max-prompt-tokens must be at least 1") }
    }

    func run() throws {
        let inputURL = URL(fileURLWithPath: input), outputURL = URL(fileURLWithPath: output)
        guard let inputData = FileManager.default.contents(atPath: inputURL.path) else {
            throw ValidationError("--input \(input): cannot read the file")
        }
        let answered = try BatchOutputFile.answeredIDs(outputURL)
        let policy = try guardOptions.policy()
        let (runner, _) = try CompletionRunner.load(modelOptions: modelOptions, guardOptions: guardOptions, policy: policy,
                                                           lora: lora, maxPromptTokens: maxPromptTokens, defaultMaxTokens: maxTokens)
        let writer = try BatchOutputFile(outputURL)
        var counts = (answered: 0, failed: 0, skipped: 0)
        let lines = String(decoding: inputData, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        for (index, rawLine) in lines.enumerated() {
            let lineNumber = index + 1
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            let record = BatchLine(lineNumber: lineNumber, text: line)
            if answered.contains(record.id) {
                counts.skipped += 1
                continue
            }
            let result: [String: Any]
            do {
                let request = try record.request()
                let outcome = try runner.run(try runner.prepare(request))
                result = BatchLine.resultRecord(id: record.id, line: lineNumber, outcome)
                counts.answered += 1
            } catch {
                result = BatchLine.errorRecord(id: record.id, line: lineNumber, error)
                counts.failed += 1
            }
            try writer.append(result)
        }
        TerminalOutput.standardError.write("\(counts.answered) answered, \(counts.failed) failed, \(counts.skipped) already in \(output)\n")
    }
}

/// One input line of a batch: its id (given, or `line-N`) and its request.
struct BatchLine {
    let lineNumber: Int
    let text: String
    let object: [String: Any]?
    let id: String

    init(lineNumber: Int, text: String) {
        self.lineNumber = lineNumber
        self.text = text
        object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
        if let id = object?["id"] as? String {
            self.id = id
        } else if let id = object?["id"], let number = id as? NSNumber, !isJSONBoolean(id) {
            self.id = number.stringValue
        } else {
            self.id = "line-\(lineNumber)"
        }
    }

    func request() throws -> CompletionRequest {
        guard let object else {
            let problem: String
            do {
                _ = try JSONSerialization.jsonObject(with: Data(text.utf8))
                problem = "is not a JSON object"
            } catch {
                problem = "is not valid JSON (\(error.localizedDescription))"
            }
            throw RequestFieldError(field: "(line)", detail: problem)
        }
        return try CompletionRequest.parse(object, accepts: .promptOrMessages)
    }

    static func resultRecord(id: String, line: Int, _ outcome: CompletionOutcome) -> [String: Any] {
        ["id": id, "line": line, "text": outcome.text, "prompt_tokens": outcome.promptTokens,
         "completion_tokens": outcome.completionTokens, "finish_reason": outcome.finishReason.rawValue,
         "guard": outcome.guardEnabled ? "on" : "off", "seconds": outcome.seconds,
         "guard_replaced_tokens": outcome.replacedPositions.count, "guard_replaced_positions": outcome.replacedPositions,
         "decode_tokens_per_second": outcome.decodeTokensPerSecond]
    }

    static func errorRecord(id: String, line: Int, _ error: Error) -> [String: Any] {
        let field = (error as? RequestFieldError)?.field
        return ["id": id, "line": line,
                "error": ["field": field.map { $0 as Any } ?? NSNull(), "message": "line \(line): \(error)"] as [String: Any]]
    }
}

/// The results file: appended one line at a time and flushed, so an interrupted run loses at most the line being
/// written, which the next run drops and redoes.
final class BatchOutputFile {
    private let handle: FileHandle

    init(_ url: URL) throws {
        if !FileManager.default.fileExists(atPath: url.path) {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw ValidationError("--output \(url.path): cannot create the file")
            }
        }
        handle = try FileHandle(forUpdating: url)
        // A last line cut short by an interrupted run has no newline: drop it.
        let data = try handle.readToEnd() ?? Data()
        let keep = data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        if keep != data.count { try handle.truncate(atOffset: UInt64(keep)) }
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    func append(_ record: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes])
        data.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: data)
        try handle.synchronize()
    }

    /// Ids with a record (answer or error) in a previous run's complete lines.
    static func answeredIDs(_ url: URL) throws -> Set<String> {
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        var ids = Set<String>()
        for line in data.split(separator: UInt8(ascii: "\n")) {
            if let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any], let id = object["id"] as? String {
                ids.insert(id)
            }
        }
        return ids
    }
}
