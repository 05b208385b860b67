import Foundation

/// A piece of text between pre-tokenization steps. `startsText` is true only for the piece that
/// begins at the start of the input (Metaspace's prepend scheme "first" depends on it).
struct PreToken {
    var text: String
    var startsText: Bool
}

/// When Metaspace adds the replacement character in front of a piece.
enum PrependScheme: String {
    case always
    case first
    case never
}

/// tokenizer.json's `pre_tokenizer`: cuts normalized text into the words the model sees.
indirect enum PreTokenizer {
    case byteLevel(addPrefixSpace: Bool, regex: SplitPattern?)
    case split(pattern: SplitPattern, behavior: SplitDelimiterBehavior, invert: Bool)
    case metaspace(replacement: String, prependScheme: PrependScheme, split: Bool)
    case digits(individualDigits: Bool)
    case punctuation(SplitDelimiterBehavior)
    case whitespace(SplitPattern)
    case whitespaceSplit
    case bert
    case sequence([PreTokenizer])

    init(field: JSONField) throws {
        let type = try field.typeName()
        switch type {
        case "ByteLevel":
            let regex = try field.bool("use_regex", default: true)
                ? try SplitPattern(regex: ByteLevelAlphabet.gpt2Pattern, field: field) : nil
            self = .byteLevel(addPrefixSpace: try field.bool("add_prefix_space", default: true), regex: regex)
        case "Split":
            self = .split(pattern: try SplitPattern(field: try field.required("pattern")),
                          behavior: try SplitDelimiterBehavior(field: try field.required("behavior")),
                          invert: try field.bool("invert", default: false))
        case "Metaspace":
            let replacement = try field.optionalString("replacement") ?? "▁"
            guard replacement.unicodeScalars.count == 1 else {
                throw TokenizerError.invalidValue(file: field.file, field: field.fieldPath("replacement"),
                                                  reason: "must be one character")
            }
            self = .metaspace(replacement: replacement, prependScheme: try PreTokenizer.prependScheme(field),
                              split: try field.bool("split", default: true))
        case "Digits":
            self = .digits(individualDigits: try field.bool("individual_digits", default: false))
        case "Punctuation":
            self = .punctuation(try field.child("behavior").map(SplitDelimiterBehavior.init(field:)) ?? .isolated)
        case "Whitespace":
            self = .whitespace(try SplitPattern(regex: #"\w+|[^\w\s]+"#, field: field))
        case "WhitespaceSplit":
            self = .whitespaceSplit
        case "BertPreTokenizer":
            self = .bert
        case "Sequence":
            self = .sequence(try field.required("pretokenizers").array().map(PreTokenizer.init(field:)))
        default:
            throw field.unsupported(type)
        }
    }

    /// `prepend_scheme`, or the older `add_prefix_space` flag it replaced.
    static func prependScheme(_ field: JSONField) throws -> PrependScheme {
        if let schemeField = field.child("prepend_scheme") {
            let name = try schemeField.string()
            guard let scheme = PrependScheme(rawValue: name) else {
                throw TokenizerError.invalidValue(file: field.file, field: schemeField.path,
                                                  reason: "unknown prepend scheme \"\(name)\"")
            }
            return scheme
        }
        return try field.bool("add_prefix_space", default: true) ? .always : .never
    }

    func preTokenize(_ pieces: [PreToken]) -> [PreToken] {
        switch self {
        case let .sequence(steps):
            return steps.reduce(pieces) { $1.preTokenize($0) }
        default:
            return pieces.flatMap(preTokenize(piece:))
        }
    }

    private func preTokenize(piece: PreToken) -> [PreToken] {
        switch self {
        case let .byteLevel(addPrefixSpace, regex):
            var text = piece.text
            if addPrefixSpace, text.unicodeScalars.first != " " { text = " " + text }
            let words = regex.map { Self.cut(PreToken(text: text, startsText: piece.startsText), $0, .isolated) }
                ?? [PreToken(text: text, startsText: piece.startsText)]
            return words.map { PreToken(text: ByteLevelAlphabet.encode($0.text), startsText: $0.startsText) }
        case let .split(pattern, behavior, invert):
            return Self.cut(piece, pattern, behavior, invert: invert)
        case let .metaspace(replacement, prependScheme, split):
            var text = String(piece.text.unicodeScalars.map { $0 == " " ? replacement : String($0) }.joined())
            let startsWithReplacement = text.unicodeScalars.first == replacement.unicodeScalars.first
            switch prependScheme {
            case .always where !startsWithReplacement: text = replacement + text
            case .first where !startsWithReplacement && piece.startsText: text = replacement + text
            default: break
            }
            let replaced = PreToken(text: text, startsText: piece.startsText)
            guard split, let scalar = replacement.unicodeScalars.first else { return [replaced] }
            return Self.cut(replaced, .characters { $0 == scalar }, .mergedWithNext)
        case let .digits(individualDigits):
            return Self.cut(piece, .characters(UnicodeClasses.isNumeric), individualDigits ? .isolated : .contiguous)
        case let .punctuation(behavior):
            return Self.cut(piece, .characters(UnicodeClasses.isPunctuation), behavior)
        case let .whitespace(pattern):
            return Self.cut(piece, pattern, .removed, invert: true)
        case .whitespaceSplit:
            return Self.cut(piece, .characters(UnicodeClasses.isWhitespace), .removed)
        case .bert:
            // BERT's punctuation test is tokenizers' `is_punc`, the same as Punctuation's.
            return Self.cut(piece, .characters(UnicodeClasses.isWhitespace), .removed)
                .flatMap { Self.cut($0, .characters(UnicodeClasses.isPunctuation), .isolated) }
        case let .sequence(steps):
            return steps.reduce([piece]) { $1.preTokenize($0) }
        }
    }

    /// Splits a piece and drops empty results, as tokenizers' `PreTokenizedString::split` does.
    private static func cut(_ piece: PreToken, _ pattern: SplitPattern, _ behavior: SplitDelimiterBehavior,
                            invert: Bool = false) -> [PreToken] {
        let text = piece.text
        return pattern.split(text, behavior: behavior, invert: invert).compactMap { range in
            guard !range.isEmpty else { return nil }
            return PreToken(text: String(text[range]), startsText: piece.startsText && range.lowerBound == text.startIndex)
        }
    }
}
