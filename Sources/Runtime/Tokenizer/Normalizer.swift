import Foundation

/// tokenizer.json's `normalizer`: rewrites text before it is split (Unicode forms, case, replacements).
indirect enum Normalizer {
    case nfc
    case nfd
    case nfkc
    case nfkd
    case lowercase
    case stripAccents
    case prepend(String)
    case replace(pattern: SplitPattern, content: String)
    case strip(left: Bool, right: Bool)
    case sequence([Normalizer])

    /// Reads a normalizer object; `nil` for a JSON null.
    init(field: JSONField) throws {
        let type = try field.typeName()
        switch type {
        case "NFC": self = .nfc
        case "NFD": self = .nfd
        case "NFKC": self = .nfkc
        case "NFKD": self = .nfkd
        case "Lowercase": self = .lowercase
        case "StripAccents": self = .stripAccents
        case "Prepend": self = .prepend(try field.requiredString("prepend"))
        case "Replace":
            self = .replace(pattern: try SplitPattern(field: try field.required("pattern")),
                            content: try field.requiredString("content"))
        case "Strip":
            self = .strip(left: try field.bool("strip_left", default: true),
                          right: try field.bool("strip_right", default: true))
        case "Sequence":
            self = .sequence(try field.required("normalizers").array().map(Normalizer.init(field:)))
        default:
            throw field.unsupported(type)
        }
    }

    func normalize(_ text: String) -> String {
        switch self {
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        case .lowercase:
            // Per code point, as Rust's `char::to_lowercase` (no final-sigma context).
            var output = ""
            for scalar in text.unicodeScalars { output += scalar.properties.lowercaseMapping }
            return output
        case .stripAccents:
            var output = String.UnicodeScalarView()
            for scalar in text.unicodeScalars where scalar.properties.generalCategory != .nonspacingMark {
                output.append(scalar)
            }
            return String(output)
        case let .prepend(prefix):
            return text.isEmpty ? text : prefix + text
        case let .replace(pattern, content):
            return pattern.replace(in: text, with: content)
        case let .strip(left, right):
            let scalars = text.unicodeScalars
            var start = scalars.startIndex
            var end = scalars.endIndex
            if left {
                while start < end, UnicodeClasses.isWhitespace(scalars[start]) { start = scalars.index(after: start) }
            }
            if right {
                while end > start, UnicodeClasses.isWhitespace(scalars[scalars.index(before: end)]) {
                    end = scalars.index(before: end)
                }
            }
            return String(scalars[start..<end])
        case let .sequence(normalizers):
            return normalizers.reduce(text) { $1.normalize($0) }
        }
    }
}
