/// Splits template source into tokens with the whitespace rules transformers configures:
/// `trim_blocks=True` (drop the first newline after a block or comment tag), `lstrip_blocks=True`
/// (drop spaces and tabs before a block or comment tag that starts a line), `-`/`+` markers on tags,
/// newlines normalized to "\n" and one trailing newline removed (`keep_trailing_newline=False`).
/// Mirrors jinja2/lexer.py.
struct JinjaLexer {
    private let bytes: [UInt8]
    private let lineStarts: [Int]
    private var position = 0
    private var tokens: [JinjaToken] = []
    /// The position of the last emitted token, so that positions of tokens (emitted in source order)
    /// are found by scanning forward instead of from the line start each time.
    private var cursor = (offset: 0, line: 1, column: 1)
    /// Whether the text that follows the last token starts a line (jinja2's `line_starting`).
    private var lineStarting = true
    private let trimBlocks = true
    private let lstripBlocks = true

    init(source: String) {
        var normalized: [UInt8] = []
        normalized.reserveCapacity(source.utf8.count)
        var iterator = source.utf8.makeIterator()
        var pending = iterator.next()
        while let byte = pending {
            pending = iterator.next()
            if byte == 0x0D {
                normalized.append(0x0A)
                if pending == 0x0A { pending = iterator.next() }
            } else {
                normalized.append(byte)
            }
        }
        if normalized.last == 0x0A { normalized.removeLast() }
        bytes = normalized
        var starts = [0]
        for (index, byte) in normalized.enumerated() where byte == 0x0A { starts.append(index + 1) }
        lineStarts = starts
    }

    static func tokenize(_ source: String) throws -> [JinjaToken] {
        var lexer = JinjaLexer(source: source)
        try lexer.run()
        return lexer.tokens
    }

    // MARK: - Positions

    func location(of offset: Int) -> (line: Int, column: Int) {
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if lineStarts[middle] <= offset { low = middle } else { high = middle - 1 }
        }
        let lineStart = lineStarts[low]
        let prefix = String(decoding: bytes[lineStart..<min(offset, bytes.count)], as: UTF8.self)
        return (low + 1, prefix.unicodeScalars.count + 1)
    }

    func syntaxError(_ message: String, at offset: Int) -> ChatTemplateError {
        let (line, column) = location(of: offset)
        return .syntax(line: line, column: column, message: message)
    }

    private mutating func emit(_ kind: JinjaToken.Kind, at offset: Int) {
        if offset < cursor.offset {
            let (line, column) = location(of: offset)
            cursor = (offset, line, column)
        }
        var (line, column) = (cursor.line, cursor.column)
        for index in cursor.offset..<min(offset, bytes.count) {
            let byte = bytes[index]
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        cursor = (offset, line, column)
        tokens.append(JinjaToken(kind: kind, line: line, column: column))
    }

    private func byte(at offset: Int) -> UInt8? { offset < bytes.count ? bytes[offset] : nil }

    private func matches(_ literal: String, at offset: Int) -> Bool {
        var index = offset
        for expected in literal.utf8 {
            guard index < bytes.count, bytes[index] == expected else { return false }
            index += 1
        }
        return true
    }

    // MARK: - Template text and tags

    private mutating func run() throws {
        while position < bytes.count {
            guard let tagStart = nextTagStart(from: position) else {
                emitText(bytes[position...], at: position)
                position = bytes.count
                break
            }
            let opener = bytes[tagStart + 1]
            let sign = byte(at: tagStart + 2)
            var text = bytes[position..<tagStart]
            if sign == UInt8(ascii: "-") {
                text = rstripWhitespace(text)
            } else if sign != UInt8(ascii: "+"), lstripBlocks, opener != UInt8(ascii: "{") {
                text = lstripBeforeTag(text)
            }
            emitText(text, at: position)
            let bodyStart = tagStart + 2 + ((sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+")) ? 1 : 0)
            switch opener {
            case UInt8(ascii: "#"):
                try lexComment(tagStart: tagStart, bodyStart: bodyStart)
            case UInt8(ascii: "%"):
                if try !lexRawBlock(tagStart: tagStart, bodyStart: bodyStart) {
                    emit(.blockBegin, at: tagStart)
                    position = bodyStart
                    try lexTagBody(isBlock: true, tagStart: tagStart)
                }
            default:
                emit(.variableBegin, at: tagStart)
                position = bodyStart
                try lexTagBody(isBlock: false, tagStart: tagStart)
            }
        }
        emit(.endOfTemplate, at: bytes.count)
    }

    private func nextTagStart(from offset: Int) -> Int? {
        var index = offset
        while index + 1 < bytes.count {
            if bytes[index] == UInt8(ascii: "{") {
                let next = bytes[index + 1]
                if next == UInt8(ascii: "{") || next == UInt8(ascii: "%") || next == UInt8(ascii: "#") { return index }
            }
            index += 1
        }
        return nil
    }

    private mutating func emitText(_ text: ArraySlice<UInt8>, at offset: Int) {
        guard !text.isEmpty else { return }
        emit(.text(String(decoding: text, as: UTF8.self)), at: offset)
    }

    /// lstrip_blocks: remove the spaces before a tag when only whitespace precedes it on its line.
    private func lstripBeforeTag(_ text: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let lineStart = (text.lastIndex(of: 0x0A).map { $0 + 1 }) ?? text.startIndex
        guard lineStart > text.startIndex || lineStarting else { return text }
        let tail = text[lineStart...]
        guard !tail.isEmpty, isAllWhitespace(tail) else { return text }
        return text[..<lineStart]
    }

    /// After a tag: `-` strips all following whitespace; otherwise trim_blocks drops one newline
    /// (not after `}}`, and not when the tag ends with `+`).
    private mutating func consumeAfterTag(strip: Bool, trimNewline: Bool) {
        let start = position
        if strip {
            position = skipWhitespace(from: position)
        } else if trimNewline, byte(at: position) == 0x0A {
            position += 1
        }
        lineStarting = position > start ? bytes[position - 1] == 0x0A : false
    }

    private mutating func lexComment(tagStart: Int, bodyStart: Int) throws {
        var index = bodyStart
        while index + 1 < bytes.count {
            if bytes[index] == UInt8(ascii: "#"), bytes[index + 1] == UInt8(ascii: "}") {
                let marker = index > bodyStart ? bytes[index - 1] : nil
                position = index + 2
                consumeAfterTag(strip: marker == UInt8(ascii: "-"), trimNewline: trimBlocks && marker != UInt8(ascii: "+"))
                return
            }
            index += 1
        }
        throw syntaxError("missing end of comment tag", at: tagStart)
    }

    /// `{% raw %}...{% endraw %}` keeps its content verbatim.
    private mutating func lexRawBlock(tagStart: Int, bodyStart: Int) throws -> Bool {
        var index = skipWhitespace(from: bodyStart)
        guard matches("raw", at: index) else { return false }
        index = skipWhitespace(from: index + 3)
        var stripAfter = false
        if byte(at: index) == UInt8(ascii: "-") { stripAfter = true; index += 1 } else if byte(at: index) == UInt8(ascii: "+") { index += 1 }
        guard matches("%}", at: index) else { return false }
        var contentStart = index + 2
        if stripAfter { contentStart = skipWhitespace(from: contentStart) }
        var search = contentStart
        while let endTag = nextTagStart(from: search) {
            search = endTag + 1
            guard bytes[endTag + 1] == UInt8(ascii: "%") else { continue }
            var cursor = endTag + 2
            let sign = byte(at: cursor)
            if sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { cursor += 1 }
            cursor = skipWhitespace(from: cursor)
            guard matches("endraw", at: cursor) else { continue }
            cursor = skipWhitespace(from: cursor + 6)
            let endSign = byte(at: cursor)
            if endSign == UInt8(ascii: "-") || endSign == UInt8(ascii: "+") { cursor += 1 }
            guard matches("%}", at: cursor) else { continue }
            var content = bytes[contentStart..<endTag]
            if sign == UInt8(ascii: "-") { content = rstripWhitespace(content) }
            emitText(content, at: contentStart)
            position = cursor + 2
            consumeAfterTag(strip: endSign == UInt8(ascii: "-"), trimNewline: trimBlocks && endSign != UInt8(ascii: "+"))
            return true
        }
        throw syntaxError("missing end of raw directive", at: tagStart)
    }

    // MARK: - Expressions inside tags

    private mutating func lexTagBody(isBlock: Bool, tagStart: Int) throws {
        var brackets: [UInt8] = []
        while true {
            position = skipWhitespace(from: position)
            guard position < bytes.count else {
                throw syntaxError(isBlock ? "unexpected end of template, expected '%}'" : "unexpected end of template, expected '}}'", at: position)
            }
            if brackets.isEmpty, try lexTagEnd(isBlock: isBlock) { return }
            let start = position
            let current = bytes[position]
            if isIdentifierStart(current) {
                var end = position + 1
                while end < bytes.count, isIdentifierContinue(bytes[end]) { end += 1 }
                emit(.name(String(decoding: bytes[position..<end], as: UTF8.self)), at: start)
                position = end
            } else if isDigit(current) {
                try lexNumber()
            } else if current == UInt8(ascii: "'") || current == UInt8(ascii: "\"") {
                try lexString()
            } else {
                let twoByte = position + 1 < bytes.count ? String(decoding: bytes[position..<position + 2], as: UTF8.self) : ""
                if ["//", "**", "==", "!=", "<=", ">="].contains(twoByte) {
                    emit(.op(twoByte), at: start)
                    position += 2
                    continue
                }
                let single = Character(Unicode.Scalar(current))
                guard "+-*/%~<>=()[]{},.:|;".contains(single) else {
                    throw syntaxError("unexpected char \(String(single).debugDescription)", at: start)
                }
                switch current {
                case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"):
                    brackets.append(current)
                case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"):
                    let opening: UInt8 = current == UInt8(ascii: ")") ? UInt8(ascii: "(") : current == UInt8(ascii: "]") ? UInt8(ascii: "[") : UInt8(ascii: "{")
                    guard brackets.last == opening else { throw syntaxError("unexpected '\(single)'", at: start) }
                    brackets.removeLast()
                default:
                    break
                }
                emit(.op(String(single)), at: start)
                position += 1
            }
        }
    }

    /// Recognizes `}}`, `-}}`, `%}`, `-%}`, `+%}` at bracket depth zero, as jinja2 does.
    private mutating func lexTagEnd(isBlock: Bool) throws -> Bool {
        let closer = isBlock ? "%}" : "}}"
        let start = position
        var marker: UInt8?
        if matches("-" + closer, at: position) {
            marker = UInt8(ascii: "-")
        } else if isBlock, matches("+" + closer, at: position) {
            marker = UInt8(ascii: "+")
        } else if !matches(closer, at: position) {
            return false
        }
        position += (marker == nil ? 2 : 3)
        emit(isBlock ? .blockEnd : .variableEnd, at: start)
        consumeAfterTag(strip: marker == UInt8(ascii: "-"), trimNewline: isBlock && trimBlocks && marker != UInt8(ascii: "+"))
        return true
    }

    private mutating func lexNumber() throws {
        let start = position
        var end = position
        func digits(_ end: inout Int) {
            while end < bytes.count, isDigit(bytes[end]) || (bytes[end] == UInt8(ascii: "_") && end + 1 < bytes.count && isDigit(bytes[end + 1])) { end += 1 }
        }
        if bytes[end] == UInt8(ascii: "0"), let prefix = byte(at: end + 1), let radix = [UInt8(ascii: "x"): 16, UInt8(ascii: "X"): 16, UInt8(ascii: "o"): 8, UInt8(ascii: "O"): 8, UInt8(ascii: "b"): 2, UInt8(ascii: "B"): 2][prefix] {
            end += 2
            while end < bytes.count, bytes[end] == UInt8(ascii: "_") || (hexDigitValue(bytes[end]).map { $0 < radix } ?? false) { end += 1 }
            let digitsText = String(decoding: bytes[(start + 2)..<end], as: UTF8.self).replacingOccurrences(of: "_", with: "")
            guard let value = Int(digitsText, radix: radix) else { throw syntaxError("invalid number literal", at: start) }
            emit(.integer(value), at: start)
            position = end
            return
        }
        digits(&end)
        var isFloat = false
        if byte(at: end) == UInt8(ascii: "."), let next = byte(at: end + 1), isDigit(next) {
            isFloat = true
            end += 1
            digits(&end)
        }
        if let e = byte(at: end), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            var cursor = end + 1
            if let sign = byte(at: cursor), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { cursor += 1 }
            if let next = byte(at: cursor), isDigit(next) {
                isFloat = true
                end = cursor
                digits(&end)
            }
        }
        let text = String(decoding: bytes[start..<end], as: UTF8.self).replacingOccurrences(of: "_", with: "")
        position = end
        if isFloat {
            guard let value = Double(text) else { throw syntaxError("invalid float literal", at: start) }
            emit(.float(value), at: start)
        } else {
            guard let value = Int(text) else { throw syntaxError("integer literal too large", at: start) }
            emit(.integer(value), at: start)
        }
    }

    /// String literals decode escapes the way Python's "unicode-escape" codec does; unknown escapes keep the backslash.
    private mutating func lexString() throws {
        let start = position
        let quote = bytes[position]
        var scalars = String.UnicodeScalarView()
        var index = position + 1
        var run = index
        func flush(_ end: Int) {
            if end > run { scalars.append(contentsOf: String(decoding: bytes[run..<end], as: UTF8.self).unicodeScalars) }
        }
        while index < bytes.count {
            let current = bytes[index]
            if current == quote {
                flush(index)
                emit(.string(String(scalars)), at: start)
                position = index + 1
                return
            }
            guard current == UInt8(ascii: "\\"), index + 1 < bytes.count else { index += 1; continue }
            flush(index)
            let escape = bytes[index + 1]
            index += 2
            switch escape {
            case 0x0A: break
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "'"): scalars.append("'")
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "a"): scalars.append("\u{07}")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "v"): scalars.append("\u{0B}")
            case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                let width = escape == UInt8(ascii: "x") ? 2 : escape == UInt8(ascii: "u") ? 4 : 8
                var code: UInt32 = 0
                for offset in 0..<width {
                    guard let digit = byte(at: index + offset).flatMap(hexDigitValue) else {
                        throw syntaxError("truncated \\\(Character(Unicode.Scalar(escape))) escape in string", at: index - 2)
                    }
                    code = code * 16 + UInt32(digit)
                }
                index += width
                guard let scalar = Unicode.Scalar(code) else { throw syntaxError("invalid code point in string escape", at: index - 2) }
                scalars.append(scalar)
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var code = UInt32(escape - UInt8(ascii: "0"))
                var count = 1
                while count < 3, let digit = byte(at: index), digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "7") {
                    code = code * 8 + UInt32(digit - UInt8(ascii: "0"))
                    index += 1
                    count += 1
                }
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default:
                scalars.append("\\")
                index -= 1
            }
            run = index
        }
        throw syntaxError("unterminated string", at: start)
    }

    // MARK: - Character classes

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    private func isIdentifierStart(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) || byte == UInt8(ascii: "_")
    }
    private func isIdentifierContinue(_ byte: UInt8) -> Bool { isIdentifierStart(byte) || isDigit(byte) }

    private func skipWhitespace(from offset: Int) -> Int {
        var index = offset
        while index < bytes.count {
            let length = whitespaceLength(at: index)
            if length == 0 { break }
            index += length
        }
        return index
    }

    /// Byte length of the Python whitespace character at `offset`, or 0.
    private func whitespaceLength(at offset: Int) -> Int {
        let first = bytes[offset]
        if first < 0x80 { return PythonText.isWhitespace(Unicode.Scalar(first)) ? 1 : 0 }
        var end = offset + 1
        while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
        guard let scalar = String(decoding: bytes[offset..<end], as: UTF8.self).unicodeScalars.first else { return 0 }
        return PythonText.isWhitespace(scalar) ? end - offset : 0
    }

    private func isAllWhitespace(_ text: ArraySlice<UInt8>) -> Bool {
        String(decoding: text, as: UTF8.self).unicodeScalars.allSatisfy(PythonText.isWhitespace)
    }

    private func rstripWhitespace(_ text: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let string = String(decoding: text, as: UTF8.self)
        let kept = PythonText.rstrip(string)
        return text.prefix(kept.utf8.count)
    }
}
