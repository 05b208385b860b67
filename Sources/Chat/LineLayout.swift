import Foundation

/// Where the line editor's text lands on a terminal `columns` wide when written after its prompt: rows wrap at the
/// right edge (a wide character that does not fit moves whole to the next row), and "\n" (from a paste) starts a
/// new row. Rows count from the prompt's row. The editor moves the cursor by these rows and columns, because a
/// terminal's relative moves (`ESC[nD`) stop at the left edge and cannot follow a wrapped line back.
struct LineLayout {
    let columns: Int
    let promptWidth: Int

    init(columns: Int, prompt: String) {
        self.columns = max(1, columns)
        promptWidth = Self.displayWidth(Self.visible(prompt))
    }

    /// The cell after the first `count` characters of `text`. A row filled to the right edge puts the position at
    /// the next row's start, where the next character will go.
    func position(after count: Int, of text: [Character]) -> (row: Int, column: Int) {
        var row = promptWidth / columns, column = promptWidth % columns
        for character in text.prefix(count) {
            if character == "\n" {
                row += 1
                column = 0
                continue
            }
            let width = Self.width(of: character)
            if column + width > columns {
                row += 1
                column = 0
            }
            column += width
            if column >= columns {
                row += 1
                column = 0
            }
        }
        return (row, column)
    }

    /// `prompt` without its CSI sequences (colours and bold take no cells).
    static func visible(_ text: String) -> String {
        text.replacing(#/\u{1B}\[[0-9;?]*[A-Za-z]/#, with: "")
    }

    static func displayWidth(_ text: String) -> Int { text.reduce(0) { $0 + width(of: $1) } }

    /// Cells a character takes: 2 for East Asian wide and emoji blocks, 1 otherwise (combining marks are part of
    /// their Character already).
    static func width(of character: Character) -> Int {
        guard let scalar = character.unicodeScalars.first?.value else { return 1 }
        switch scalar {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
             0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6,
             0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x3FFFD:
            return 2
        default:
            return 1
        }
    }
}
