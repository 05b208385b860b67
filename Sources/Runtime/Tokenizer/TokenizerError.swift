/// Why a tokenizer.json could not be loaded. Each case names the file and the JSON field.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The file could not be read.
    case unreadable(file: String, reason: String)
    /// The file is not valid JSON.
    case notJSON(file: String, reason: String)
    /// A required field is absent (or null).
    case missingField(file: String, field: String)
    /// A field has the wrong JSON type.
    case wrongType(file: String, field: String, expected: String, found: String)
    /// A `type` field names a component this runtime does not implement.
    case unsupportedType(file: String, field: String, found: String)
    /// A field has a value outside what the format allows.
    case invalidValue(file: String, field: String, reason: String)
    /// A merge names a token (or produces one) that is not in the vocabulary.
    case unknownMergeToken(file: String, field: String, token: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read tokenizer: \(reason)"
        case let .notJSON(file, reason):
            return "\(file): not valid JSON: \(reason)"
        case let .missingField(file, field):
            return "\(file): missing field \(field)"
        case let .wrongType(file, field, expected, found):
            return "\(file): field \(field) should be \(expected), found \(found)"
        case let .unsupportedType(file, field, found):
            return "\(file): field \(field) names an unsupported type \"\(found)\""
        case let .invalidValue(file, field, reason):
            return "\(file): field \(field) is invalid: \(reason)"
        case let .unknownMergeToken(file, field, token):
            return "\(file): field \(field) names token \"\(token)\", which is not in model.vocab"
        }
    }
}
