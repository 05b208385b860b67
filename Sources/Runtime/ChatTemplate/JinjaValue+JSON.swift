import Foundation

extension JinjaValue {
    /// Reads JSON keeping object key order (`tojson` output depends on it), through the runtime's one JSON parser.
    /// Integers without fraction or exponent become `.int`, as in Python's json; a repeated key keeps its first
    /// position and its last value, as a Python dict built by `json.loads` does.
    public init(json text: String) throws {
        let parsed: JSONValue
        do {
            parsed = try JSON.parse(Data(text.utf8), maximumDepth: Self.maximumJSONDepth, duplicateKeys: .keep)
        } catch let error as JSON.SyntaxError {
            throw ChatTemplateError.invalidJSON(offset: error.byte, message: error.reason)
        }
        self.init(parsed)
    }

    /// Deep enough for any tool schema; shallow enough that the recursive printers of values stay far from the
    /// stack limit.
    static let maximumJSONDepth = 128

    init(_ json: JSONValue) {
        switch json {
        case .null: self = .none
        case let .bool(value): self = .bool(value)
        case let .integer(value): self = .int(value)
        case let .number(value): self = .double(value)
        case let .string(value): self = .string(value)
        case let .array(elements): self = .array(elements.map(JinjaValue.init))
        case let .object(members): self = .object(JinjaObject(members.map { ($0.key, JinjaValue($0.value)) }))
        }
    }
}

func hexDigitValue(_ byte: UInt8) -> Int? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte - UInt8(ascii: "a")) + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte - UInt8(ascii: "A")) + 10
    default: return nil
    }
}
