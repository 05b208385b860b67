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

        init(_ arguments: [String]) throws {
            var master: Int32 = 0, slave: Int32 = 0
            guard openpty(&master, &slave, nil, nil, nil) == 0 else { throw TestFailure("openpty failed: errno \(errno)") }
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
                    let count = read(master, &buffer, buffer.count)
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
        let model = CommandRunner.fixtures.appendingPathComponent("models/llama3-sharded-bf16")
        let terminal = try Terminal(["chat", "--guard", "off", "--model", model.path, "--max-tokens", "200", "--temperature", "0", "--no-history"])
        try terminal.waitForPrompt(afterAnswers: 0)
        terminal.type("Hello there\r")
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
