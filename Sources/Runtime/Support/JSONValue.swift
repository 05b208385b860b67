/// A parsed JSON document (RFC 8259), kept untyped so that a reader can say exactly which field is wrong.
///
/// Two things Foundation's JSONSerialization loses are kept: object members stay in file order with their
/// keys as written (Swift String keys compare by canonical equivalence, so a vocabulary holding both "é"
/// and "e\u{301}" would lose one), and integers stay apart from other numbers (`2` vs `2.5`, and exact
/// values above 2^53).
enum JSONValue {
    case null
    case bool(Bool)
    /// A literal without fraction or exponent that fits `Int`.
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// The first member whose key has exactly these UTF-8 bytes (nil for non-objects).
    subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.first { $0.key.utf8.elementsEqual(key.utf8) }?.value
    }

    /// The last member whose key has exactly these UTF-8 bytes: how Python's `json` reads a repeated key.
    func lastValue(forKey key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.last { $0.key.utf8.elementsEqual(key.utf8) }?.value
    }

    /// The JSON type, as error messages name it ("should be an integer, found a string").
    var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Compact JSON-like text for error messages, members in file order.
    var text: String {
        switch self {
        case .null: return "null"
        case let .bool(value): return "\(value)"
        case let .integer(value): return "\(value)"
        case let .number(value): return "\(value)"
        case let .string(value): return "\"\(value)\""
        case let .array(values): return "[" + values.map(\.text).joined(separator: ", ") + "]"
        case let .object(members):
            return "{" + members.map { "\"\($0.key)\": \($0.value.text)" }.joined(separator: ", ") + "}"
        }
    }
}

extension JSONValue: Equatable {
    /// Structural equality with strings and keys compared by their bytes, as the parser keeps them.
    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(left), .bool(right)): return left == right
        case let (.integer(left), .integer(right)): return left == right
        case let (.number(left), .number(right)): return left == right
        case let (.string(left), .string(right)): return left.utf8.elementsEqual(right.utf8)
        case let (.array(left), .array(right)): return left == right
        case let (.object(left), .object(right)):
            return left.count == right.count && zip(left, right).allSatisfy {
                $0.key.utf8.elementsEqual($1.key.utf8) && $0.value == $1.value
            }
        default: return false
        }
    }
}
