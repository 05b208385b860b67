import Foundation

/// The screen a VT100-style terminal shows after a stream of output: printable characters with the terminal's
/// deferred wrap at the right edge (the cursor stays on the last column until the next character), CR, LF with
/// scrolling, and the CSI sequences the line editor uses (cursor up/down/forward/back, erase line, erase display,
/// home). Other sequences (colours, modes) are read and ignored. One cell per character (the tests type ASCII).
struct ScreenEmulator {
    let columns: Int
    let rows: Int
    private(set) var cells: [[Character]]
    private(set) var row = 0
    private(set) var column = 0
    private var pendingWrap = false

    init(columns: Int, rows: Int) {
        self.columns = columns
        self.rows = rows
        cells = Array(repeating: Array(repeating: " ", count: columns), count: rows)
    }

    /// Each row's text with trailing spaces removed.
    var lines: [String] { cells.map { String($0).replacing(#/ +$/#, with: "") } }

    static func render(_ output: String, columns: Int, rows: Int) -> ScreenEmulator {
        var screen = ScreenEmulator(columns: columns, rows: rows)
        screen.feed(output)
        return screen
    }

    mutating func feed(_ output: String) {
        let scalars = Array(output.unicodeScalars)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            switch scalar {
            case "\r":
                column = 0
                pendingWrap = false
            case "\n":
                lineFeed()
                pendingWrap = false
            case "\u{08}":
                column = max(0, column - 1)
                pendingWrap = false
            case "\u{1B}":
                guard index < scalars.count else { return }
                if scalars[index] == "[" {
                    index += 1
                    var parameter = ""
                    while index < scalars.count, !(0x40...0x7E).contains(scalars[index].value) {
                        parameter.unicodeScalars.append(scalars[index])
                        index += 1
                    }
                    guard index < scalars.count else { return }
                    control(final: scalars[index], parameter: parameter)
                    index += 1
                } else {
                    index += 1
                }
            default:
                guard scalar.value >= 0x20 else { continue }
                if pendingWrap {
                    column = 0
                    lineFeed()
                    pendingWrap = false
                }
                cells[row][column] = Character(scalar)
                if column == columns - 1 { pendingWrap = true } else { column += 1 }
            }
        }
    }

    private mutating func lineFeed() {
        if row == rows - 1 {
            cells.removeFirst()
            cells.append(Array(repeating: " ", count: columns))
        } else {
            row += 1
        }
    }

    private mutating func control(final: Unicode.Scalar, parameter: String) {
        let count = max(1, Int(parameter) ?? 1)
        pendingWrap = false
        switch final {
        case "A": row = max(0, row - count)
        case "B": row = min(rows - 1, row + count)
        case "C": column = min(columns - 1, column + count)
        case "D": column = max(0, column - count)
        case "H":
            row = 0
            column = 0
        case "K":
            for c in column..<columns { cells[row][c] = " " }
        case "J":
            if parameter == "2" {
                cells = Array(repeating: Array(repeating: " ", count: columns), count: rows)
            } else {
                for c in column..<columns { cells[row][c] = " " }
                for r in (row + 1)..<rows { cells[r] = Array(repeating: " ", count: columns) }
            }
        default: break
        }
    }
}
