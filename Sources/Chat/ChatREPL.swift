import Foundation
import Guard
import Runtime

/// The read-answer loop of `teleguard chat`: user lines become turns of `session`, slash commands change it.
/// Answers go to standard output; notes, stats and errors to standard error, so piped output is only the answers.
final class ChatREPL {
    let session: ChatSession
    let adapters: AdapterRegistry
    let guardController: GuardController
    private let editor: LineEditor
    private let interrupts: InterruptMonitor
    private let style = TerminalStyle(fileDescriptor: STDOUT_FILENO)
    private let noteStyle = TerminalStyle(fileDescriptor: STDERR_FILENO)
    private let output = TerminalOutput.standardOutput

    init(session: ChatSession, adapters: AdapterRegistry, guardController: GuardController, editor: LineEditor) {
        self.session = session
        self.adapters = adapters
        self.guardController = guardController
        self.editor = editor
        interrupts = InterruptMonitor(exitWhenIdle: !editor.isTerminal)
    }

    func note(_ text: String) { TerminalOutput.standardError.write(text + "\n") }
    private func fail(_ text: String) { note(noteStyle.red("error: ") + text) }

    func run() {
        let prompt = editor.isTerminal ? style.bold(style.green("you› ")) : ""
        loop: while true {
            switch editor.readLine(prompt: prompt) {
            case .endOfFile: break loop
            case .interrupt: continue
            case .line(let line):
                let text = line.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                if text.hasPrefix("/") {
                    do {
                        if try handle(SlashCommand.parse(text)) == false { break loop }
                    } catch {
                        fail("\(error)")
                    }
                } else {
                    answer(text)
                }
            }
        }
    }

    // MARK: Answers

    private func answer(_ text: String) {
        do {
            let result = try stream(heading: editor.isTerminal ? style.bold(style.cyan("ai› ")) : "") { onDelta in
                try session.send(text, onDelta: onDelta)
            }
            finishAnswer(result)
        } catch {
            output.write("\n")
            fail("\(error)" + (session.turns.isEmpty ? "" : " (/reset starts a new conversation)"))
        }
    }

    /// Streams an answer to standard output after `heading`, stopping when Ctrl-C is pressed.
    private func stream(heading: String = "", _ generate: ((GenerationDelta) -> Bool) throws -> GenerationResult?) throws -> GenerationResult? {
        try interrupts.whileAnswering { shouldStop in
            // Written once Ctrl-C already means "stop the answer".
            output.write(heading)
            return try generate { delta in
                if !delta.text.isEmpty { output.write(delta.text) }
                return !shouldStop()
            }
        }
    }

    private func finishAnswer(_ result: GenerationResult?) {
        output.write("\n")
        guard let result else { return }
        if result.finishReason == .cancelled { note(noteStyle.yellow("[stopped]")) }
        if !result.replacedPositions.isEmpty {
            let count = result.replacedPositions.count
            note(noteStyle.yellow("[the guard replaced \(count) token\(count == 1 ? "" : "s") the patch ruled out]"))
        }
        if result.finishReason == .contentFilter { note(noteStyle.yellow("[the guard ended the answer here]")) }
        if result.finishReason == .length, session.contextUsed >= session.contextLength - 1 {
            note(noteStyle.yellow("[the context is full; /reset starts a new conversation]"))
        }
    }

    // MARK: Commands

    /// Runs a command; false means leave.
    private func handle(_ command: SlashCommand) throws -> Bool {
        switch command {
        case .adapterLoad, .adapterUnload, .adapterScale, .guardSet, .guardScale, .compare, .verify: session.invalidateCache()
        default: break
        }
        defer { if case .compare = command { session.invalidateCache() } }
        switch command {
        case .quit: return false
        case .help: note(SlashCommand.helpText)
        case .system(let text?):
            session.systemPrompt = text
            note("system prompt set")
        case .system(nil):
            note(session.systemPrompt.map { "system prompt: \($0)" } ?? "no system prompt")
        case .reset:
            session.reset()
            note("conversation reset")
        case .temperature(let value):
            session.options.sampling.temperature = value
            note("temperature \(value)")
        case .stats: note(stats())
        case .adaptersList: note(adapterList())
        case .adapterLoad(let directory, let scale):
            let slot = try adapters.load(directory: URL(fileURLWithPath: directory), scale: scale)
            note("adapter \(slot.number): \(slot.name) at scale \(slot.scale)")
        case .adapterUnload(let number):
            try adapters.unload(number)
            note("adapter \(number) removed")
        case .adapterScale(let number, let scale):
            let slot = try adapters.setScale(number, scale)
            note("adapter \(slot.number): scale \(slot.scale)")
        case .guardStatus: note("guard: \(guardController.stateDescription)")
        case .guardSet(let on):
            try guardController.setEnabled(on)
            note("guard: \(guardController.stateDescription)")
        case .guardScale(let scale):
            try guardController.setScale(scale)
            note("guard: \(guardController.stateDescription)")
        case .compare: try compare()
        case .verify(let path): try verify(suitePath: path)
        }
        return true
    }

    private func stats() -> String {
        var lines: [String] = []
        if let result = session.lastResult {
            lines.append("last answer: \(result.outputIds.count) tokens, "
                         + String(format: "%.1f tokens/s decode, %.1f tokens/s prefill", result.decodeTokensPerSecond, result.prefillTokensPerSecond)
                         + " (\(result.promptIds.count) prompt tokens, \(result.reusedPromptTokens) reused from the cache), "
                         + String(format: "%.2fs", session.lastSeconds) + ", finish \(result.finishReason.rawValue)")
        } else {
            lines.append("last answer: none yet")
        }
        lines.append("context: \(session.contextUsed) of \(session.contextLength) tokens used, \(session.turns.count) messages")
        lines.append("temperature: \(session.options.sampling.temperature), max tokens: \(session.options.maxTokens)")
        lines.append("guard: \(guardController.stateDescription)")
        lines.append("adapters: \(adapters.loaded.count)")
        return lines.joined(separator: "\n")
    }

    private func adapterList() -> String {
        let slots = adapters.loaded
        if slots.isEmpty { return "no adapters loaded (/adapters load DIR [SCALE])" }
        return slots.map { "\($0.number): \($0.name) scale \($0.scale)\($0.enabled ? "" : " (disabled)")  \($0.directory)" }
            .joined(separator: "\n")
    }

    /// Runs a trigger suite (default: suite.json in the model directory): unguarded, and guarded when a guard is loaded.
    private func verify(suitePath: String?) throws {
        let url = suitePath.map { URL(fileURLWithPath: $0) } ?? session.languageModel.location.appendingPathComponent("suite.json")
        let suite = try TriggerSuite.load(from: url)
        let verifier = Verifier(session.languageModel)
        var reports = [try guardController.with(enabled: false) { try verifier.run(suite, guardName: "off") }]
        if guardController.isLoaded {
            reports.append(try guardController.with(enabled: true) { try verifier.run(suite, guardName: guardController.policyName) })
        }
        output.write(VerifyTable(reports: reports, suiteFile: url.path, suite: suite).text + "\n")
    }

    /// The last prompt answered twice from the same context, guard off then on; the conversation is unchanged.
    /// On a terminal the answers appear side by side once both are done; piped, each streams under its heading.
    private func compare() throws {
        guard guardController.isLoaded else { throw GuardController.Failure.notLoaded }
        guard session.lastUserMessage != nil else {
            fail("nothing to compare yet: send a prompt first")
            return
        }
        let columns = editor.isTerminal
        var answers: [(heading: String, text: String)] = []
        for (label, on) in [("raw", false), ("guarded (\(guardController.policyName))", true)] {
            if !columns { output.write(style.bold("── \(label) ──") + "\n") }
            session.invalidateCache()
            var text = ""
            let result = try guardController.with(enabled: on) {
                try interrupts.whileAnswering { shouldStop in
                    try session.answerLastAgain { delta in
                        if columns { text += delta.text } else { output.write(delta.text) }
                        return !shouldStop()
                    }
                }
            }
            if !columns { output.write("\n") }
            answers.append((label, result?.text ?? text))
            if result?.finishReason == .cancelled { note(noteStyle.yellow("[stopped]")); return }
        }
        if columns {
            output.write(SideBySide.render(left: answers[0], right: answers[1], width: SideBySide.terminalWidth()) + "\n")
        }
        note(answers[0].text == answers[1].text ? "the answers are the same" : "the answers differ")
    }
}
