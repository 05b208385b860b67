import Foundation

/// What a split does with the pieces its pattern matches (tokenizers' `SplitDelimiterBehavior`).
enum SplitDelimiterBehavior: String {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    init(field: JSONField) throws {
        let name = try field.string()
        guard let behavior = SplitDelimiterBehavior(rawValue: name) else {
            throw TokenizerError.invalidValue(file: field.file, field: field.path,
                                              reason: "unknown split behavior \"\(name)\"")
        }
        self = behavior
    }
}

/// A pattern that finds pieces of a string: a literal string, a regular expression, or a character class.
///
/// The GPT-2, Llama-3 and Qwen2 regexes use hand-written matchers (`WellKnownSplitPattern`); other
/// regexes run on ICU (NSRegularExpression), which has the Unicode properties, case-insensitive groups
/// and lookahead these patterns need. ICU's `\s` lacks U+000B and U+0085, which Oniguruma (the
/// reference's engine) includes, so patterns are rewritten to add them.
enum SplitPattern {
    case literal([UInt8])
    case regex(NSRegularExpression)
    case wellKnown(WellKnownSplitPattern)
    case characters((Unicode.Scalar) -> Bool)

    /// Reads tokenizer.json's `{"String": ...}` or `{"Regex": ...}` pattern object.
    init(field: JSONField) throws {
        if let literal = field.child("String") {
            self = .literal(Array(try literal.string().utf8))
        } else if let regex = field.child("Regex") {
            self = try SplitPattern(regex: try regex.string(), field: regex)
        } else {
            throw TokenizerError.missingField(file: field.file, field: field.fieldPath("String|Regex"))
        }
    }

    init(regex pattern: String, field: JSONField) throws {
        if let wellKnown = WellKnownSplitPattern(pattern: pattern) {
            self = .wellKnown(wellKnown)
            return
        }
        do {
            self = .regex(try NSRegularExpression(pattern: SplitPattern.icuPattern(pattern), options: []))
        } catch {
            throw TokenizerError.invalidValue(file: field.file, field: field.path,
                                              reason: "regular expression does not compile: \(pattern)")
        }
    }

    /// Rewrites Oniguruma's `\s`/`\S` into ICU classes with the same members.
    static func icuPattern(_ pattern: String) -> String {
        var output = ""
        var inClass = false
        var scalars = pattern.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            if scalar == "\\" {
                guard let escaped = scalars.next() else { output.unicodeScalars.append(scalar); break }
                switch (escaped, inClass) {
                case ("s", false): output += "[\\s\\x{0B}\\x{85}]"
                case ("s", true): output += "\\s\\x{0B}\\x{85}"
                case ("S", false): output += "[^\\s\\x{0B}\\x{85}]"
                default:
                    output.unicodeScalars.append(scalar)
                    output.unicodeScalars.append(escaped)
                }
                continue
            }
            if scalar == "[" { inClass = true } else if scalar == "]" { inClass = false }
            output.unicodeScalars.append(scalar)
        }
        return output
    }

    /// The string cut into consecutive ranges, each flagged as a match or not (tokenizers' `find_matches`).
    /// Empty matches are kept as empty ranges; callers drop empty pieces.
    func findMatches(in text: String) -> [(range: Range<String.Index>, isMatch: Bool)] {
        if text.isEmpty { return [(text.startIndex..<text.endIndex, false)] }
        var matches: [Range<String.Index>] = []
        switch self {
        case let .characters(predicate):
            var index = text.unicodeScalars.startIndex
            while index < text.unicodeScalars.endIndex {
                let next = text.unicodeScalars.index(after: index)
                if predicate(text.unicodeScalars[index]) { matches.append(index..<next) }
                index = next
            }
        case let .literal(bytes):
            if bytes.isEmpty { return [(text.startIndex..<text.endIndex, false)] }
            let utf8 = Array(text.utf8)
            var offset = 0
            while offset + bytes.count <= utf8.count {
                if utf8[offset] == bytes[0], utf8[offset..<(offset + bytes.count)].elementsEqual(bytes) {
                    let start = text.utf8.index(text.utf8.startIndex, offsetBy: offset)
                    let end = text.utf8.index(start, offsetBy: bytes.count)
                    matches.append(start..<end)
                    offset += bytes.count
                } else {
                    offset += 1
                }
            }
        case let .wellKnown(pattern):
            let indices = Array(text.unicodeScalars.indices) + [text.endIndex]
            matches = pattern.matches(in: Array(text.unicodeScalars)).map { indices[$0.lowerBound]..<indices[$0.upperBound] }
        case let .regex(regex):
            let nsText = text as NSString
            let results = regex.matches(in: text, options: [], range: NSRange(location: 0, length: nsText.length))
            for result in results {
                let range = result.range
                guard let start = String.Index(utf16Offset: range.location, in: text).samePosition(in: text.unicodeScalars),
                      let end = String.Index(utf16Offset: range.location + range.length, in: text)
                        .samePosition(in: text.unicodeScalars) else { continue }
                matches.append(start..<end)
            }
        }
        var pieces: [(range: Range<String.Index>, isMatch: Bool)] = []
        var previous = text.startIndex
        for match in matches {
            if previous != match.lowerBound { pieces.append((previous..<match.lowerBound, false)) }
            pieces.append((match, true))
            previous = match.upperBound
        }
        if previous != text.endIndex { pieces.append((previous..<text.endIndex, false)) }
        return pieces
    }

    /// Splits `text` by the pattern with the given behavior (tokenizers' `NormalizedString::split`).
    /// Returned ranges may be empty; callers drop empty pieces.
    func split(_ text: String, behavior: SplitDelimiterBehavior, invert: Bool = false) -> [Range<String.Index>] {
        var matches = findMatches(in: text)
        if invert { matches = matches.map { ($0.range, !$0.isMatch) } }
        switch behavior {
        case .isolated:
            return matches.map(\.range)
        case .removed:
            return matches.filter { !$0.isMatch }.map(\.range)
        case .contiguous:
            var ranges: [Range<String.Index>] = []
            var previousMatch = false
            for (range, isMatch) in matches {
                if isMatch == previousMatch, let last = ranges.last {
                    ranges[ranges.count - 1] = last.lowerBound..<range.upperBound
                } else {
                    ranges.append(range)
                }
                previousMatch = isMatch
            }
            return ranges
        case .mergedWithPrevious:
            var ranges: [Range<String.Index>] = []
            var previousMatch = false
            for (range, isMatch) in matches {
                if isMatch && !previousMatch, let last = ranges.last {
                    ranges[ranges.count - 1] = last.lowerBound..<range.upperBound
                } else {
                    ranges.append(range)
                }
                previousMatch = isMatch
            }
            return ranges
        case .mergedWithNext:
            var ranges: [Range<String.Index>] = []
            var previousMatch = false
            for (range, isMatch) in matches.reversed() {
                if isMatch && !previousMatch, let last = ranges.last {
                    ranges[ranges.count - 1] = range.lowerBound..<last.upperBound
                } else {
                    ranges.append(range)
                }
                previousMatch = isMatch
            }
            return ranges.reversed()
        }
    }

    /// Replaces every match with `content` (the Replace normalizer and decoder).
    func replace(in text: String, with content: String) -> String {
        var output = ""
        for (range, isMatch) in findMatches(in: text) {
            if isMatch { output += content } else { output += text[range] }
        }
        return output
    }
}
