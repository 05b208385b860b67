import Foundation

/// A parsed JSON document, kept untyped so that validation can say exactly which field is wrong
/// (a typed `Decodable` would only say that decoding failed somewhere).
/// Integers are kept apart from other numbers so that `2` and `2.5` can be told apart.
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Parses `data`; the error's text is the decoder's reason, for messages.
    static func parse(_ data: Data) -> Result<JSONValue, ParseFailure> {
        do {
            return .success(try JSONDecoder().decode(JSONValue.self, from: data))
        } catch let DecodingError.dataCorrupted(context) {
            return .failure(ParseFailure(reason: context.underlyingError.map { "\($0)" } ?? context.debugDescription))
        } catch {
            return .failure(ParseFailure(reason: "\(error)"))
        }
    }

    struct ParseFailure: Error {
        let reason: String
    }

    /// Compact JSON-like text for error messages.
    var text: String {
        switch self {
        case .null: return "null"
        case let .bool(value): return "\(value)"
        case let .integer(value): return "\(value)"
        case let .number(value): return "\(value)"
        case let .string(value): return "\"\(value)\""
        case let .array(values): return "[" + values.map(\.text).joined(separator: ", ") + "]"
        case let .object(fields):
            return "{" + fields.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value.text)" }.joined(separator: ", ") + "}"
        }
    }
}
