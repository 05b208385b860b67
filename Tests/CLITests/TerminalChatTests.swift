import Foundation
import XCTest

/// `teleguard chat` on a pseudo-terminal: the raw-mode line editor (cursor keys, history recall), Ctrl-C at the
/// prompt abandoning the line without leaving, Ctrl-D leaving, and the history file.
final class TerminalChatTests: XCTestCase {
    /// A child whose standard input, output and error are the slave side of a new pseudo-terminal.
    final class Terminal {
        let process = Process()
        private let master: Int32
        private let lock = NSLock()
        private var screen = ""

        /// `columns` × `rows`: the window size the child reads (TIOCGWINSZ); nil leaves it unset (0 × 0).
        init(_ arguments: [String], columns: Int? = nil, rows: Int = 24) throws {
            var master: Int32 = 0, slave: Int32 = 0
            var size = winsize(ws_row: UInt16(rows), ws_col: UInt16(columns ?? 0), ws_xpixel: 0, ws_ypixel: 0)
            let opened = columns == nil ? openpty(&master, &slave, nil, nil, nil) : openpty(&master, &slave, nil, nil, &size)
            guard opened == 0 else { throw TestFailure("openpty failed: errno \(errno)") }
            self.master = master
            let slaveHandle = FileHandle(fileDescriptor: slave, closeOnDealloc: true)
            process.executableURL = CommandRunner.binary
            process.arguments = arguments
            process.standardInput = slaveHandle
            process.standardOutput = slaveHandle
            process.standardError = slaveHandle
            try process.run()
            try slaveHandle.close()
            Thread { [self] in
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = read(self.master, &buffer, buffer.count)
                    if count <= 0 { break }
                    let text = String(decoding: buffer[0..<count], as: UTF8.self)
                    lock.withLock { screen += text }
                }
            }.start()
        }

        var output: String { lock.withLock { screen } }

        /// Waits until `text` has appeared `count` times in the output.
        func waitFor(_ text: String, count: Int = 1, timeout: TimeInterval = 60) throws {
            let deadline = Date().addingTimeInterval(timeout)
            while output.components(separatedBy: text).count - 1 < count {
                if Date() > deadline { throw TestFailure("timed out waiting for \(count)× '\(text)'; screen:\n\(output)") }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }

        /// Waits until `answers` answers have begun and the editor shows an empty prompt again.
        func waitForPrompt(afterAnswers answers: Int, timeout: TimeInterval = 60) throws {
            let deadline = Date().addingTimeInterval(timeout)
            while true {
                let plain = output.replacing(#/\u{1B}\[[0-9;]*[A-Za-z]/#, with: "")
                if plain.components(separatedBy: "ai› ").count - 1 >= answers && plain.hasSuffix("you› ") { return }
                if Date() > deadline { throw TestFailure("timed out waiting for the prompt after \(answers) answers; screen:\n\(output)") }
                Thread.sleep(forTimeInterval: 0.02)
            }
        }

        /// Waits until the screen the output draws on a `columns` × `rows` terminal meets `condition`.
        @discardableResult
        func waitForScreen(columns: Int, rows: Int = 24, timeout: TimeInterval = 60,
                           _ condition: (ScreenEmulator) -> Bool) throws -> ScreenEmulator {
            let deadline = Date().addingTimeInterval(timeout)
            while true {
                let screen = ScreenEmulator.render(output, columns: columns, rows: rows)
                if condition(screen) { return screen }
                if Date() > deadline {
                    throw TestFailure("timed out waiting for the screen; it shows:\n\(screen.lines.joined(separator: "\n"))")
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }

        func type(_ text: String) {
            var bytes = Array(text.utf8)
            _ = write(master, &bytes, bytes.count)
        }

        func waitForExit(timeout: TimeInterval = 20) -> Int32? {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if process.isRunning { process.terminate(); return nil }
            return process.terminationStatus
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            close(master)
        }
    }

    func testLineEditingHistoryCtrlCAndCtrlD() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        defer { try? FileManager.default.removeItem(at: folder) }
        let history = folder.appendingPathComponent("teleguard/history")
        let model = CommandRunner.fixtures.appendingPathComponent("models/llama3-sharded-bf16")
        let terminal = try Terminal(["chat", "--guard", "off", "--model", model.path, "--max-tokens", "4", "--temperature", "0", "--history", history.path])
        try terminal.waitForPrompt(afterAnswers: 0)
        // "ello there", Home, "H", Enter: the line is "Hello there".
        terminal.type("ello there\u{01}H\r")
        try terminal.waitForPrompt(afterAnswers: 1)
        // Typing, then Left twice and Backspace, then End: "abXcd" → "abcd"; Ctrl-C abandons it.
        terminal.type("abXcd\u{1B}[D\u{1B}[D\u{7F}\u{1B}[F\u{03}")
        try terminal.waitFor("^C")
        try terminal.waitForPrompt(afterAnswers: 1)
        // Up recalls "Hello there"; Delete-word and retyping edits it.
        terminal.type("\u{1B}[A\u{17}friend\r")
        try terminal.waitForPrompt(afterAnswers: 2)
        terminal.type("\u{04}")
        XCTAssertEqual(terminal.waitForExit(), 0, terminal.output)

        let saved = try String(contentsOf: history, encoding: .utf8)
        XCTAssertEqual(saved, "Hello there\nHello friend\n")
        XCTAssertTrue(terminal.output.contains("ai› "), terminal.output)
    }
}

extension TerminalChatTests {
    /// SIGINT (what Ctrl-C sends from a controlling terminal) during an answer stops it; the chat goes on.
    func testInterruptStopsTheAnswerAndTheChatGoesOn() throws {
        // A real model asked for a long answer: a fixture model's whole context decodes before the interrupt lands.
        let environment = ProcessInfo.processInfo.environment
        let models = environment["TELEGUARD_MODELS"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.cache") + "/teleguard/models"
        let model = models + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        XCTAssertTrue(FileManager.default.fileExists(atPath: model), "run bash scripts/install-model.sh (the test command does)")
        let terminal = try Terminal(["chat", "--guard", "off", "--model", model, "--max-tokens", "2000", "--temperature", "0", "--no-history"])
        try terminal.waitForPrompt(afterAnswers: 0)
        terminal.type("Write a long story about a dragon who learns to paint.\r")
        try terminal.waitFor("ai› ")
        kill(terminal.process.processIdentifier, SIGINT)
        try terminal.waitFor("[stopped]")
        try terminal.waitForPrompt(afterAnswers: 1)
        terminal.type("/stats\r")
        try terminal.waitFor("finish cancelled")
        try terminal.waitForPrompt(afterAnswers: 1)
        terminal.type("/quit\r")
        XCTAssertEqual(terminal.waitForExit(), 0, terminal.output)
    }
}

extension TerminalChatTests {
    /// Rows `expected` appear one after another on the screen, the first starting at row `at`.
    static func rowIndex(of expected: [String], in screen: ScreenEmulator) -> Int? {
        let lines = screen.lines
        guard lines.count >= expected.count else { return nil }
        return (0...(lines.count - expected.count)).last { start in
            expected.enumerated().allSatisfy { lines[start + $0.offset] == $0.element }
        }
    }

    /// A line longer than the terminal is wide wraps; moving left across the wrap and inserting redraws every row
    /// in place, with the cursor on the inserted character's row and column, and Enter sends the whole line.
    func testLongLineWrapsAndRedrawsAcrossRows() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        defer { try? FileManager.default.removeItem(at: folder) }
        let history = folder.appendingPathComponent("history")
        let model = CommandRunner.fixtures.appendingPathComponent("models/llama3-sharded-bf16")
        let terminal = try Terminal(["chat", "--guard", "off", "--model", model.path, "--max-tokens", "4", "--temperature", "0",
                                     "--history", history.path], columns: 20)
        try terminal.waitForPrompt(afterAnswers: 0)
        // 5 prompt cells + 36 characters: rows of 20, 20 and 1. Then 25 × Left (back over two wraps) and "_".
        terminal.type("abcdefghijklmnopqrstuvwxyz0123456789" + String(repeating: "\u{1B}[D", count: 25) + "_")
        let expected = ["you› abcdefghijk_lmn", "opqrstuvwxyz01234567", "89"]
        let screen = try terminal.waitForScreen(columns: 20) { Self.rowIndex(of: expected, in: $0) != nil }
        let top = try XCTUnwrap(Self.rowIndex(of: expected, in: screen))
        XCTAssertEqual(screen.row, top, "cursor row")
        XCTAssertEqual(screen.column, 17, "cursor column: after the prompt (5) and 12 characters")
        XCTAssertEqual(screen.lines.filter { $0.hasPrefix("you› ") }.count, 1, "the prompt is drawn once:\n\(screen.lines.joined(separator: "\n"))")

        terminal.type("\r")
        try terminal.waitForPrompt(afterAnswers: 1)
        let answered = try terminal.waitForScreen(columns: 20) { Self.rowIndex(of: expected, in: $0) != nil }
        let lines = answered.lines
        let sent = try XCTUnwrap(Self.rowIndex(of: expected, in: answered))
        XCTAssertTrue(lines[sent + 3].hasPrefix("ai› "), "the answer starts below the whole line:\n\(lines.joined(separator: "\n"))")
        terminal.type("\u{04}")
        XCTAssertEqual(terminal.waitForExit(), 0, terminal.output)
        XCTAssertEqual(try String(contentsOf: history, encoding: .utf8), "abcdefghijk_lmnopqrstuvwxyz0123456789\n")
    }

    /// Bracketed paste: pasted lines (CR LF inside) become one message, sent by the Enter after the paste only.
    func testBracketedPasteInsertsNewlinesWithoutSending() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        defer { try? FileManager.default.removeItem(at: folder) }
        let history = folder.appendingPathComponent("history")
        let model = CommandRunner.fixtures.appendingPathComponent("models/llama3-sharded-bf16")
        let terminal = try Terminal(["chat", "--guard", "off", "--model", model.path, "--max-tokens", "4", "--temperature", "0",
                                     "--history", history.path], columns: 40)
        try terminal.waitForPrompt(afterAnswers: 0)
        XCTAssertTrue(terminal.output.contains("\u{1B}[?2004h"), "the editor turns bracketed paste on")
        terminal.type("\u{1B}[200~first line\r\nsecond\tline\r\u{1B}[201~")
        try terminal.waitForScreen(columns: 40) { Self.rowIndex(of: ["you› first line", "second line", ""], in: $0) != nil }
        terminal.type("!\r")
        try terminal.waitForPrompt(afterAnswers: 1)
        terminal.type("\u{04}")
        XCTAssertEqual(terminal.waitForExit(), 0, terminal.output)
        let plain = terminal.output.replacing(#/\u{1B}\[[0-9;?]*[A-Za-z]/#, with: "")
        XCTAssertEqual(plain.components(separatedBy: "ai› ").count - 1, 1, "one message, one answer:\n\(plain)")
        XCTAssertEqual(try String(contentsOf: history, encoding: .utf8), "first line\\nsecond\tline\\n!\n")
    }
}
