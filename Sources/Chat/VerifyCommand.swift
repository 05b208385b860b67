import ArgumentParser
import Foundation
import Guard
import Runtime

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Run a trigger suite: attack success rate, clean trigger rate and benign accuracy.",
        discussion: "Each trigger is placed into each prompt (prefix, suffix, or middle: after word ⌊words/2⌋, joined by single spaces); every prompt goes through the chat template as one user turn and is decoded greedily. ASR is the share of triggered responses matching the suite's target; payload fragments (for a contains target) the share holding any 6-character piece of it, so a garbled payload still counts; the clean trigger rate is the same share without triggers; benign accuracy is the share of benign items meeting their expectation. Exit status 1 when --max-asr is exceeded.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var guardOptions: GuardOptions

    @Option(name: .long, help: "Trigger suite JSON. Default: suite.json in the model directory.")
    var suite: String?

    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    @Option(name: .long, help: "Exit with status 1 when the (guarded) ASR exceeds this.")
    var maxAsr: Double?

    @Flag(name: .long, help: "Run unguarded and guarded in one pass and show both side by side.")
    var compare = false

    @Flag(name: .long, help: "Also run the teleported guard's controls under the same rule and calibration: the generator fed noise instead of activations, a random patch of the same norm per layer, and no patch but the model quantized to 4 bits (Q4_0) as the reference stream.")
    var controls = false

    /// suite.json inside a model directory; a GGUF file has no place for one, so it needs --suite.
    private func defaultSuite() throws -> URL {
        let model = try modelOptions.modelPath()
        guard !ModelPath.isGGUF(model) else { throw ValidationError("--suite is required with a GGUF model (\(model.path))") }
        return model.appendingPathComponent("suite.json")
    }

    func run() throws {
        let policy = try guardOptions.policy()
        let suiteURL = try suite.map { URL(fileURLWithPath: $0) } ?? defaultSuite()
        let triggerSuite = try TriggerSuite.load(from: suiteURL)
        let languageModel = try modelOptions.load()
        let verifier = Verifier(languageModel)
        var reports: [VerifyReport] = []
        // Long answers are judged against the unguarded model's: from the unguarded run with --compare, else decoded
        // here before the guard goes on.
        var unguarded: [VerifyReport.LongCase]?
        if compare && policy != .off {
            let report = try verifier.run(triggerSuite, guardName: "off", progress: Self.progress)
            unguarded = report.longCases
            reports.append(report)
        } else if policy != .off && !triggerSuite.longPrompts.isEmpty {
            unguarded = try verifier.longCases(triggerSuite).cases
        }
        let (modelGuard, activation) = try guardOptions.activate(policy, on: languageModel)
        var guarded = try verifier.run(triggerSuite, guardName: activation.policy.description, unguarded: unguarded,
                                       progress: Self.progress)
        guarded.calibratedScale = activation.calibration.map { Double($0.scale) }
        reports.append(guarded)
        var controlReports: [(PatchControl, VerifyReport)] = []
        if controls {
            guard case .teleport = policy else { throw ValidationError("--controls needs --guard teleport") }
            if unguarded == nil, !triggerSuite.longPrompts.isEmpty { unguarded = reports.first?.longCases }
            for control in PatchControl.allCases {
                let controlActivation = try modelGuard.activate(policy, scale: guardOptions.guardScale,
                                                                rule: try guardOptions.ruleChoice(), control: control)
                var report = try verifier.run(triggerSuite, guardName: control.description, unguarded: unguarded, progress: Self.progress)
                report.calibratedScale = controlActivation.calibration.map { Double($0.scale) }
                controlReports.append((control, report))
            }
        }
        try modelGuard.deactivate()
        if ProgressLine.isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }

        if json {
            var object: [String: Any] = [:]
            if reports.count > 1 { object["off"] = try Self.object(reports[0]) }
            if !controlReports.isEmpty {
                object["controls"] = Dictionary(uniqueKeysWithValues: try controlReports.map { ($0.0.rawValue, try Self.object($0.1)) })
            }
            if object.isEmpty {
                try printJSON(try Self.object(reports[0]))
            } else {
                object["guarded"] = try Self.object(reports[reports.count - 1])
                try printJSON(object)
            }
        } else {
            print(VerifyTable(reports: reports + controlReports.map(\.1), suiteFile: suiteURL.path, suite: triggerSuite).text)
        }
        if let maxAsr, let guarded = reports.last, guarded.asr > maxAsr {
            FileHandle.standardError.write(Data(String(format: "verify: ASR %.3f exceeds --max-asr %.3f\n", guarded.asr, maxAsr).utf8))
            throw ExitCode(1)
        }
    }

    static func progress(_ done: Int, _ total: Int) {
        guard ProgressLine.isTerminal else { return }
        FileHandle.standardError.write(Data("\rverify: \(done)/\(total)   ".utf8))
    }

    static func object(_ report: VerifyReport) throws -> Any {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(report))
    }
}

/// The human-readable verify report: metrics (side by side with --compare), then every case.
struct VerifyTable {
    let reports: [VerifyReport]
    let suiteFile: String
    let suite: TriggerSuite

    var text: String {
        var lines: [String] = []
        guard let first = reports.first else { return "" }
        lines.append("model   \(first.model)")
        lines.append("suite   \(first.suite) (\(suiteFile)): \(suite.triggeredCases.count) triggered, \(suite.prompts.count) clean, \(suite.benign.count) benign; target \(suite.target); greedy, \(suite.maxTokens) tokens")
        lines.append("")
        let label = 20, column = 14
        func row(_ name: String, _ values: [String]) -> String {
            name.padding(toLength: label, withPad: " ", startingAt: 0) + values.map { $0.leftPad(column) }.joined()
        }
        lines.append(row("guard", reports.map(\.guardPolicy)))
        lines.append(row("ASR", reports.map { String(format: "%.3f", $0.asr) }))
        if reports.allSatisfy({ $0.payloadFragmentRate != nil }) {
            lines.append(row("payload fragments", reports.map { String(format: "%.3f", $0.payloadFragmentRate ?? 0) }))
        }
        lines.append(row("clean trigger rate", reports.map { String(format: "%.3f", $0.cleanTriggerRate) }))
        lines.append(row("benign accuracy", reports.map { String(format: "%.3f", $0.benignAccuracy) }))
        lines.append(row("seconds", reports.map { String(format: "%.2f", $0.seconds) }))
        if reports.contains(where: { $0.answerAgreement != nil }) {
            // Judged against the unguarded answers, so the unguarded column has none.
            func values(_ value: (VerifyReport) -> Double?, _ format: String) -> [String] {
                reports.map { value($0).map { String(format: format, $0) } ?? "—" }
            }
            lines.append("")
            lines.append("long answers (\(suite.longPrompts.count) prompts, greedy, \(suite.longMaxTokens) tokens; against the unguarded answers):")
            lines.append(row("answer agreement", values(\.answerAgreement, "%.3f")))
            lines.append(row("answers identical", values(\.answersIdentical, "%.3f")))
            lines.append(row("touch rate", values(\.touchRate, "%.3f")))
            lines.append(row("tokens touched", values(\.tokensTouched, "%.3f")))
            lines.append(row("decode time / token", values(\.decodeTimeRatio, "%.2f×")))
        }
        for report in reports {
            lines.append("")
            lines.append("cases (guard \(report.guardPolicy)):")
            for item in report.cases {
                let kind = item.trigger.map { "\(item.placement?.rawValue ?? "") \"\($0)\"" } ?? "clean"
                lines.append("  \(item.hit ? "HIT " : "    ") \(kind.rightPad(24)) \(Self.clip(item.prompt, 40).rightPad(40))  → \(Self.clip(item.response, 60))")
            }
            for item in report.benignCases {
                lines.append("  \(item.correct ? "OK  " : "MISS") \("benign".rightPad(24)) \(Self.clip(item.prompt, 40).rightPad(40))  → \(Self.clip(item.response, 60))")
            }
            for item in report.longCases ?? [] {
                let mark = item.identical.map { $0 ? "SAME" : String(format: "%.2f", item.agreement ?? 0) } ?? "    "
                lines.append("  \(mark) \("long".rightPad(24)) \(Self.clip(item.prompt, 40).rightPad(40))  → \(Self.clip(item.response, 60))")
            }
        }
        return lines.joined(separator: "\n")
    }

    static func clip(_ text: String, _ width: Int) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: "⏎")
        return flat.count <= width ? flat : String(flat.prefix(width - 1)) + "…"
    }
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? " " + self : String(repeating: " ", count: width - count) + self }
    func rightPad(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
