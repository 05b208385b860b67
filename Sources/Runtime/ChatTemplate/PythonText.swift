/// Python `str` semantics over Unicode scalars (code points), which is what Jinja's string
/// operations see: lengths, indices and comparisons count code points, not Swift Characters,
/// and equality is code-point equality, not canonical equivalence.
enum PythonText {
    /// `str.isspace()`: Unicode White_Space plus the information separators U+001C...U+001F.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0: return true
        case 0..<0x80: return false
        default: return scalar.properties.isWhitespace
        }
    }

    static func equal(_ lhs: String, _ rhs: String) -> Bool { lhs.utf8.elementsEqual(rhs.utf8) }

    /// Code-point order, which UTF-8 byte order preserves.
    static func less(_ lhs: String, _ rhs: String) -> Bool { lhs.utf8.lexicographicallyPrecedes(rhs.utf8) }

    static func length(_ text: String) -> Int { text.unicodeScalars.count }

    static func strip(_ text: String, characters: String? = nil) -> String { rstrip(lstrip(text, characters: characters), characters: characters) }

    static func lstrip(_ text: String, characters: String? = nil) -> String {
        let scalars = text.unicodeScalars
        let set = characters.map { Set($0.unicodeScalars) }
        var index = scalars.startIndex
        while index < scalars.endIndex, set?.contains(scalars[index]) ?? isWhitespace(scalars[index]) { index = scalars.index(after: index) }
        return String(scalars[index...])
    }

    static func rstrip(_ text: String, characters: String? = nil) -> String {
        let scalars = text.unicodeScalars
        let set = characters.map { Set($0.unicodeScalars) }
        var end = scalars.endIndex
        while end > scalars.startIndex {
            let previous = scalars.index(before: end)
            guard set?.contains(scalars[previous]) ?? isWhitespace(scalars[previous]) else { break }
            end = previous
        }
        return String(scalars[..<end])
    }

    /// `str.split(sep, maxsplit)`; without a separator, splits on runs of whitespace and drops empty parts.
    static func split(_ text: String, separator: String?, maxSplit: Int = -1) -> [String] {
        guard let separator else {
            var parts: [String] = []
            var current = String.UnicodeScalarView()
            var inWord = false
            var splits = 0
            let scalars = Array(text.unicodeScalars)
            var index = 0
            while index < scalars.count {
                let scalar = scalars[index]
                if isWhitespace(scalar) {
                    if inWord {
                        parts.append(String(current))
                        current = String.UnicodeScalarView()
                        inWord = false
                        splits += 1
                        if maxSplit >= 0, splits >= maxSplit {
                            var rest = index
                            while rest < scalars.count, isWhitespace(scalars[rest]) { rest += 1 }
                            if rest < scalars.count {
                                var tail = String.UnicodeScalarView()
                                tail.append(contentsOf: scalars[rest...])
                                parts.append(String(tail))
                            }
                            return parts
                        }
                    }
                } else {
                    current.append(scalar)
                    inWord = true
                }
                index += 1
            }
            if inWord { parts.append(String(current)) }
            return parts
        }
        let textBytes = Array(text.utf8)
        let separatorBytes = Array(separator.utf8)
        var parts: [String] = []
        var start = 0
        var index = 0
        while index + separatorBytes.count <= textBytes.count, maxSplit < 0 || parts.count < maxSplit {
            if textBytes[index..<index + separatorBytes.count].elementsEqual(separatorBytes) {
                parts.append(String(decoding: textBytes[start..<index], as: UTF8.self))
                index += separatorBytes.count
                start = index
            } else {
                index += 1
            }
        }
        parts.append(String(decoding: textBytes[start...], as: UTF8.self))
        return parts
    }

    /// Byte offsets of non-overlapping occurrences of `needle`, left to right.
    static func occurrences(of needle: String, in text: String, limit: Int = -1) -> [Int] {
        let textBytes = Array(text.utf8)
        let needleBytes = Array(needle.utf8)
        var result: [Int] = []
        if needleBytes.isEmpty {
            // Python inserts an empty match between every code point and at both ends.
            var offset = 0
            result.append(0)
            for scalar in text.unicodeScalars {
                offset += String(scalar).utf8.count
                result.append(offset)
            }
            return limit >= 0 ? Array(result.prefix(limit)) : result
        }
        var index = 0
        while index + needleBytes.count <= textBytes.count, limit < 0 || result.count < limit {
            if textBytes[index..<index + needleBytes.count].elementsEqual(needleBytes) {
                result.append(index)
                index += needleBytes.count
            } else {
                index += 1
            }
        }
        return result
    }

    static func contains(_ text: String, _ needle: String) -> Bool { !occurrences(of: needle, in: text, limit: 1).isEmpty }

    static func replace(_ text: String, _ old: String, _ new: String, count: Int = -1) -> String {
        let textBytes = Array(text.utf8)
        let oldLength = old.utf8.count
        var output: [UInt8] = []
        var last = 0
        for offset in occurrences(of: old, in: text, limit: count) {
            output.append(contentsOf: textBytes[last..<offset])
            output.append(contentsOf: new.utf8)
            last = offset + oldLength
        }
        if last < textBytes.count { output.append(contentsOf: textBytes[last...]) }
        return String(decoding: output, as: UTF8.self)
    }

    /// `str.find`: the code-point index of the first occurrence, or -1.
    static func find(_ text: String, _ needle: String) -> Int {
        guard let offset = occurrences(of: needle, in: text, limit: 1).first else { return -1 }
        return String(decoding: Array(text.utf8)[..<offset], as: UTF8.self).unicodeScalars.count
    }

    static func count(_ text: String, _ needle: String) -> Int { occurrences(of: needle, in: text).count }

    static func startsWith(_ text: String, _ prefix: String) -> Bool { text.utf8.starts(with: prefix.utf8) }
    static func endsWith(_ text: String, _ suffix: String) -> Bool { text.utf8.reversed().starts(with: suffix.utf8.reversed()) }

    static func upper(_ text: String) -> String { text.uppercased() }
    static func lower(_ text: String) -> String { text.lowercased() }

    private static func isCased(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        return properties.isUppercase || properties.isLowercase || properties.generalCategory == .titlecaseLetter
    }

    private static func titlecased(_ scalar: Unicode.Scalar) -> String { scalar.properties.titlecaseMapping }

    /// `str.title()`: a cased character after an uncased one starts a word.
    static func title(_ text: String) -> String {
        var output = ""
        var previousCased = false
        for scalar in text.unicodeScalars {
            if isCased(scalar) {
                output += previousCased ? scalar.properties.lowercaseMapping : titlecased(scalar)
                previousCased = true
            } else {
                output.unicodeScalars.append(scalar)
                previousCased = false
            }
        }
        return output
    }

    /// `str.capitalize()`: first character titlecased, the rest lowercased.
    static func capitalize(_ text: String) -> String {
        guard let first = text.unicodeScalars.first else { return text }
        var rest = text.unicodeScalars
        rest.removeFirst()
        return titlecased(first) + String(rest).lowercased()
    }

    /// `str.splitlines()` line boundaries.
    static func isLineBoundary(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    static func splitLines(_ text: String) -> [String] {
        var lines: [String] = []
        var current = String.UnicodeScalarView()
        var pendingCarriageReturn = false
        for scalar in text.unicodeScalars {
            if pendingCarriageReturn {
                pendingCarriageReturn = false
                if scalar == "\n" { continue }
            }
            if isLineBoundary(scalar) {
                lines.append(String(current))
                current = String.UnicodeScalarView()
                pendingCarriageReturn = scalar == "\r"
            } else {
                current.append(scalar)
            }
        }
        if !current.isEmpty { lines.append(String(current)) }
        return lines
    }

    /// Python's `\w`: letters, digits (any script), and underscore.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "_" { return true }
        let properties = scalar.properties
        return properties.isAlphabetic || properties.numericType != nil
    }

    static func wordCount(_ text: String) -> Int {
        var count = 0
        var inWord = false
        for scalar in text.unicodeScalars {
            let word = isWordCharacter(scalar)
            if word && !inWord { count += 1 }
            inWord = word
        }
        return count
    }

    /// Jinja's `title` filter: capitalizes each piece after a run of `-`, whitespace or an opening bracket.
    static func jinjaTitle(_ text: String) -> String {
        var output = ""
        var piece = String.UnicodeScalarView()
        func flushPiece() {
            if let first = piece.first {
                // item[0].upper() + item[1:].lower(), as jinja2.filters.do_title writes it.
                output += String(first).uppercased() + String(String.UnicodeScalarView(piece.dropFirst())).lowercased()
            }
            piece = String.UnicodeScalarView()
        }
        for scalar in text.unicodeScalars {
            if scalar == "-" || scalar == "(" || scalar == "{" || scalar == "[" || scalar == "<" || isWhitespace(scalar) {
                flushPiece()
                output.unicodeScalars.append(scalar)
            } else {
                piece.append(scalar)
            }
        }
        flushPiece()
        return output
    }

    /// The scalars of `text` between Python slice bounds (already resolved by the caller).
    static func scalars(_ text: String) -> [Unicode.Scalar] { Array(text.unicodeScalars) }

    static func string(_ scalars: some Sequence<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
