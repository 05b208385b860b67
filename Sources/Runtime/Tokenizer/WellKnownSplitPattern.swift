/// Hand-written matchers for the split regexes of GPT-2, Llama-3 and Qwen2, which nearly every
/// byte-level tokenizer uses. They give the same pieces as the regex (leftmost alternative wins,
/// with the regex's backtracking spelled out) without running a regex engine. Any other pattern
/// goes through NSRegularExpression.
enum WellKnownSplitPattern {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case llama3
    /// As Llama-3 but `\p{N}` (one digit per piece).
    case qwen2

    init?(pattern: String) {
        switch pattern {
        case ByteLevelAlphabet.gpt2Pattern: self = .gpt2
        case #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            self = .llama3
        case #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#:
            self = .qwen2
        default: return nil
        }
    }

    /// Scalar offsets of every match, in order.
    func matches(in scalars: [Unicode.Scalar]) -> [Range<Int>] {
        var classes = [CharacterClass](repeating: .other, count: scalars.count)
        for index in scalars.indices { classes[index] = CharacterClass(scalars[index]) }
        var matches: [Range<Int>] = []
        var position = 0
        while position < scalars.count {
            if let end = match(at: position, scalars, classes) {
                matches.append(position..<end)
                position = end
            } else {
                position += 1
            }
        }
        return matches
    }

    /// The classes the patterns distinguish. `\s` is White_Space (Oniguruma's meaning).
    private enum CharacterClass {
        case letter, number, newline, whitespace, other

        init(_ scalar: Unicode.Scalar) {
            if scalar.isASCII {
                switch scalar.value {
                case 0x41...0x5A, 0x61...0x7A: self = .letter
                case 0x30...0x39: self = .number
                case 0x0A, 0x0D: self = .newline
                case 0x09, 0x0B, 0x0C, 0x20: self = .whitespace
                default: self = .other
                }
                return
            }
            switch scalar.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
                self = .letter
            case .decimalNumber, .letterNumber, .otherNumber:
                self = .number
            default:
                self = scalar.properties.isWhitespace ? .whitespace : .other
            }
        }

        var isWhitespace: Bool { self == .whitespace || self == .newline }
    }

    private func match(at start: Int, _ scalars: [Unicode.Scalar], _ classes: [CharacterClass]) -> Int? {
        let count = scalars.count
        if let end = contraction(at: start, scalars, caseInsensitive: self != .gpt2) { return end }
        func run(from index: Int, while predicate: (CharacterClass) -> Bool) -> Int {
            var end = index
            while end < count, predicate(classes[end]) { end += 1 }
            return end
        }
        let current = classes[start]
        switch self {
        case .gpt2:
            // ` ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+`
            let body = scalars[start] == " " && start + 1 < count ? start + 1 : start
            for wanted in [CharacterClass.letter, .number, .other] where classes[body] == wanted {
                return run(from: body) { $0 == wanted }
            }
        case .llama3, .qwen2:
            // `[^\r\n\p{L}\p{N}]?\p{L}+`
            if current != .letter && current != .number && current != .newline,
               start + 1 < count, classes[start + 1] == .letter {
                return run(from: start + 1) { $0 == .letter }
            }
            if current == .letter { return run(from: start) { $0 == .letter } }
            // `\p{N}{1,3}` or `\p{N}`
            if current == .number {
                let limit = self == .llama3 ? 3 : 1
                var end = start
                while end < count, end - start < limit, classes[end] == .number { end += 1 }
                return end
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            let body = scalars[start] == " " && start + 1 < count && classes[start + 1] == .other ? start + 1 : start
            if classes[body] == .other {
                let end = run(from: body) { $0 == .other }
                return run(from: end) { $0 == .newline }
            }
            // `\s*[\r\n]+`
            let whitespaceEnd = run(from: start) { $0.isWhitespace }
            if let lastNewline = (start..<whitespaceEnd).last(where: { classes[$0] == .newline }) {
                return lastNewline + 1
            }
        }
        // `\s+(?!\S)|\s+`
        guard current.isWhitespace else { return nil }
        let end = run(from: start) { $0.isWhitespace }
        if end == count || end - start == 1 { return end }
        return end - 1
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d`, optionally case-insensitive (where ſ folds to s, as in Oniguruma).
    private func contraction(at start: Int, _ scalars: [Unicode.Scalar], caseInsensitive: Bool) -> Int? {
        guard scalars[start] == "'", start + 1 < scalars.count else { return nil }
        func letter(_ index: Int) -> Unicode.Scalar? {
            guard index < scalars.count else { return nil }
            let scalar = scalars[index]
            guard caseInsensitive else { return scalar }
            if scalar == "\u{17F}" { return "s" }
            if scalar.value >= 0x41 && scalar.value <= 0x5A { return Unicode.Scalar(scalar.value + 0x20) }
            return scalar
        }
        switch letter(start + 1) {
        case "s", "t", "m", "d": return start + 2
        case "r", "v": return letter(start + 2) == "e" ? start + 3 : nil
        case "l": return letter(start + 2) == "l" ? start + 3 : nil
        default: return nil
        }
    }
}
