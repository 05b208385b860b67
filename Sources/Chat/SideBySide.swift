import Foundation

/// Two texts in columns under their headings, each wrapped to half the terminal's width (for `/compare`).
enum SideBySide {
    static func render(left: (heading: String, text: String), right: (heading: String, text: String), width: Int) -> String {
        let column = max(16, (width - 3) / 2)
        let leftLines = [left.heading, String(repeating: "─", count: min(column, left.heading.count))] + wrap(left.text, column)
        let rightLines = [right.heading, String(repeating: "─", count: min(column, right.heading.count))] + wrap(right.text, column)
        return (0..<max(leftLines.count, rightLines.count)).map { index -> String in
            let leftText = index < leftLines.count ? leftLines[index] : ""
            let rightText = index < rightLines.count ? rightLines[index] : ""
            return leftText + String(repeating: " ", count: max(0, column - leftText.count)) + " │ " + rightText
        }.joined(separator: "\n")
    }

    /// Breaks at spaces where possible, inside words longer than a line; newlines start new lines.
    static func wrap(_ text: String, _ width: Int) -> [String] {
        var lines: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = ""
            for word in paragraph.split(separator: " ", omittingEmptySubsequences: false) {
                var word = String(word)
                while word.count > width {
                    if !line.isEmpty { lines.append(line); line = "" }
                    lines.append(String(word.prefix(width)))
                    word = String(word.dropFirst(width))
                }
                if line.isEmpty { line = word } else if line.count + 1 + word.count <= width { line += " " + word } else {
                    lines.append(line)
                    line = word
                }
            }
            lines.append(line)
        }
        return lines
    }

    /// Columns of the terminal on standard output, or 80.
    static func terminalWidth() -> Int {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }
}
