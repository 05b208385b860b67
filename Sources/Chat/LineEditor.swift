import Foundation

/// Reads the REPL's input lines. On a terminal it is a small raw-mode editor (termios): arrows and Home/End move,
/// Up/Down walk the history, Ctrl-A/E/B/F/K/U/W/L/P/N as in readline, Ctrl-C abandons the line, Ctrl-D on an
/// empty line ends input. A line longer than the terminal is wide wraps onto further rows and is redrawn across
/// them; a bracketed paste (`ESC[200~ … ESC[201~`) is inserted whole, newlines included, and sent only by Enter.
/// Otherwise lines are read plainly, so piped input and scripts work.
final class LineEditor {
    enum Input: Equatable {
        case line(String)
        /// Ctrl-C on the terminal.
        case interrupt
        /// Ctrl-D on an empty line, or the end of piped input.
        case endOfFile
    }

    private(set) var history: LineHistory
    let isTerminal: Bool
    private let input = STDIN_FILENO
    private let output = TerminalOutput.standardOutput

    init(history: LineHistory) {
        self.history = history
        isTerminal = isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1
    }

    func readLine(prompt: String) -> Input {
        let result: Input
        if isTerminal, let original = enterRawMode() {
            // Bracketed paste on while editing only: pasted newlines must not send the line half-way.
            output.write(Self.bracketedPasteOn)
            defer {
                output.write(Self.bracketedPasteOff)
                var saved = original
                tcsetattr(input, TCSADRAIN, &saved)
            }
            result = editLine(prompt: prompt)
        } else {
            result = Swift.readLine(strippingNewline: true).map { .line($0) } ?? .endOfFile
        }
        if case .line(let text) = result { history.add(text) }
        return result
    }

    static let bracketedPasteOn = "\u{1B}[?2004h"
    static let bracketedPasteOff = "\u{1B}[?2004l"
    /// What the terminal sends after pasted text.
    static let pasteEnd: [UInt8] = Array("\u{1B}[201~".utf8)

    // MARK: Raw mode

    /// Character-at-a-time input without echo or signal keys; output processing stays on so "\n" is still CR LF.
    private func enterRawMode() -> termios? {
        var original = termios()
        guard tcgetattr(input, &original) == 0 else { return nil }
        var raw = original
        raw.c_iflag &= ~tcflag_t(ICRNL | IXON | BRKINT | ISTRIP)
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN)
        withUnsafeMutableBytes(of: &raw.c_cc) { bytes in
            bytes[Int(VMIN)] = 1
            bytes[Int(VTIME)] = 0
        }
        // TCSADRAIN, not TCSAFLUSH: keys typed while an answer streamed are kept.
        guard tcsetattr(input, TCSADRAIN, &raw) == 0 else { return nil }
        return original
    }

    private func readByte() -> UInt8? {
        var byte: UInt8 = 0
        while true {
            let count = read(input, &byte, 1)
            if count == 1 { return byte }
            if count < 0 && errno == EINTR { continue }
            return nil
        }
    }

    // MARK: Editing

    private struct State {
        var text: [Character] = []
        var cursor = 0
        /// Position in the history while walking it; `entries.count` is the line being typed.
        var historyIndex: Int
        var draft: [Character] = []
        /// Row of the terminal cursor, counted from the prompt's row, as the last redraw left it.
        var cursorRow = 0
    }

    private func editLine(prompt: String) -> Input {
        var state = State(historyIndex: history.entries.count)
        output.write(prompt)
        while let byte = readByte() {
            switch byte {
            case 0x0D, 0x0A:
                moveToEnd(prompt: prompt, &state)
                output.write("\n")
                return .line(String(state.text))
            case 0x03:
                moveToEnd(prompt: prompt, &state)
                output.write("^C\n")
                return .interrupt
            case 0x04:
                if state.text.isEmpty {
                    output.write("\n")
                    return .endOfFile
                }
                if state.cursor < state.text.count { state.text.remove(at: state.cursor) }
            case 0x7F, 0x08:
                if state.cursor > 0 {
                    state.text.remove(at: state.cursor - 1)
                    state.cursor -= 1
                }
            case 0x01: state.cursor = 0
            case 0x05: state.cursor = state.text.count
            case 0x02: state.cursor = max(0, state.cursor - 1)
            case 0x06: state.cursor = min(state.text.count, state.cursor + 1)
            case 0x0B: state.text.removeSubrange(state.cursor...)
            case 0x15:
                state.text.removeSubrange(..<state.cursor)
                state.cursor = 0
            case 0x17: deleteWordBackward(&state)
            case 0x0C:
                output.write("\u{1B}[H\u{1B}[2J")
                state.cursorRow = 0
            case 0x10: walkHistory(&state, by: -1)
            case 0x0E: walkHistory(&state, by: 1)
            case 0x1B: handleEscape(&state)
            case 0x20...0x7E:
                insert(Character(Unicode.Scalar(byte)), &state)
            case 0xC0...0xFF:
                if let character = readUTF8(lead: byte) { insert(character, &state) }
            default: break
            }
            redraw(prompt: prompt, &state)
        }
        moveToEnd(prompt: prompt, &state)
        output.write("\n")
        return .endOfFile
    }

    private func insert(_ character: Character, _ state: inout State) {
        state.text.insert(character, at: state.cursor)
        state.cursor += 1
    }

    private func deleteWordBackward(_ state: inout State) {
        var start = state.cursor
        while start > 0, state.text[start - 1] == " " { start -= 1 }
        while start > 0, state.text[start - 1] != " " { start -= 1 }
        state.text.removeSubrange(start..<state.cursor)
        state.cursor = start
    }

    private func walkHistory(_ state: inout State, by step: Int) {
        let entries = history.entries
        let target = state.historyIndex + step
        guard target >= 0, target <= entries.count else { return }
        if state.historyIndex == entries.count { state.draft = state.text }
        state.historyIndex = target
        state.text = target == entries.count ? state.draft : Array(entries[target])
        state.cursor = state.text.count
    }

    /// CSI (`ESC [ … final`) and SS3 (`ESC O x`) sequences for the arrow, Home, End and Delete keys.
    private func handleEscape(_ state: inout State) {
        guard let kind = readByte() else { return }
        var final: UInt8 = 0
        var parameter = ""
        if kind == UInt8(ascii: "[") {
            while let byte = readByte() {
                if (0x40...0x7E).contains(byte) { final = byte; break }
                parameter.append(Character(Unicode.Scalar(byte)))
            }
        } else if kind == UInt8(ascii: "O") {
            final = readByte() ?? 0
        } else {
            return
        }
        switch (final, parameter) {
        case (UInt8(ascii: "A"), _): walkHistory(&state, by: -1)
        case (UInt8(ascii: "B"), _): walkHistory(&state, by: 1)
        case (UInt8(ascii: "C"), _): state.cursor = min(state.text.count, state.cursor + 1)
        case (UInt8(ascii: "D"), _): state.cursor = max(0, state.cursor - 1)
        case (UInt8(ascii: "H"), _), (UInt8(ascii: "~"), "1"), (UInt8(ascii: "~"), "7"): state.cursor = 0
        case (UInt8(ascii: "F"), _), (UInt8(ascii: "~"), "4"), (UInt8(ascii: "~"), "8"): state.cursor = state.text.count
        case (UInt8(ascii: "~"), "3"):
            if state.cursor < state.text.count { state.text.remove(at: state.cursor) }
        case (UInt8(ascii: "~"), "200"):
            for character in readPaste() { insert(character, &state) }
        default: break
        }
    }

    private func readUTF8(lead: UInt8) -> Character? {
        let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
        var bytes = [lead]
        for _ in 1..<length {
            guard let next = readByte() else { return nil }
            bytes.append(next)
        }
        return String(bytes: bytes, encoding: .utf8)?.first
    }

    /// The pasted text up to `ESC[201~`, with CR LF and CR as "\n", other control characters dropped (tabs kept).
    private func readPaste() -> [Character] {
        var bytes: [UInt8] = []
        while let byte = readByte() {
            bytes.append(byte)
            if bytes.count >= Self.pasteEnd.count && bytes.suffix(Self.pasteEnd.count).elementsEqual(Self.pasteEnd) {
                bytes.removeLast(Self.pasteEnd.count)
                break
            }
        }
        let text = String(decoding: bytes, as: UTF8.self)
            .replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        return text.filter { character in
            character == "\n" || character == "\t" || !(character.unicodeScalars.first.map { $0.value < 0x20 || $0.value == 0x7F } ?? true)
        }.map { $0 }
    }

    /// Columns of the terminal, read at every redraw so a resized window is followed; 80 when unknown.
    private func terminalColumns() -> Int {
        var size = winsize()
        guard ioctl(output.fileDescriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    /// Puts the cursor after the last character, so what is written next goes below the whole (wrapped) line.
    private func moveToEnd(prompt: String, _ state: inout State) {
        guard state.cursor != state.text.count else { return }
        state.cursor = state.text.count
        redraw(prompt: prompt, &state)
    }

    /// Rewrites the line in place across its rows: up to the prompt's row, clear to the end of the screen, prompt
    /// and text, then up and right to the cursor's cell (linenoise's multi-line refresh).
    private func redraw(prompt: String, _ state: inout State) {
        let layout = LineLayout(columns: terminalColumns(), prompt: prompt)
        var line = state.cursorRow > 0 ? "\u{1B}[\(state.cursorRow)A" : ""
        // Tabs (from a paste) are shown as one space so every character takes the cells the layout gives it.
        line += "\r\u{1B}[J" + prompt + String(state.text).replacingOccurrences(of: "\n", with: "\r\n").replacingOccurrences(of: "\t", with: " ")
        let end = layout.position(after: state.text.count, of: state.text)
        // A row filled to the right edge leaves the terminal's cursor on that row until the next character: step
        // to the next row so the terminal and the layout agree.
        let endsAtEdge = end.column == 0 && (state.text.last.map { $0 != "\n" } ?? (layout.promptWidth > 0))
        if endsAtEdge { line += "\r\n" }
        let target = layout.position(after: state.cursor, of: state.text)
        if end.row > target.row { line += "\u{1B}[\(end.row - target.row)A" }
        line += "\r"
        if target.column > 0 { line += "\u{1B}[\(target.column)C" }
        state.cursorRow = target.row
        output.write(line)
    }
}
