/// A parsed JSON value that keeps object members in file order and keys as written.
///
/// Foundation's JSONSerialization returns `[String: Any]`, whose String keys compare by canonical
/// equivalence: a vocabulary holding both "é" (U+00E9) and "e\u{301}" would lose one entry.
enum JSONValue {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Member lookup by exact key bytes (config keys are ASCII, so this is the JSON meaning).
    subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        let keyBytes = Array(key.utf8)
        return members.first { $0.key.utf8.elementsEqual(keyBytes) }?.value
    }
}

/// A small strict JSON parser over UTF-8 bytes (RFC 8259).
struct JSONParser {
    struct Failure: Error {
        let reason: String
    }

    private let bytes: [UInt8]
    private var position = 0

    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.failure("unexpected data after the top-level value") }
        return value
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    private func failure(_ reason: String) -> Failure {
        // Report a line number: what a person opening the file needs.
        let line = bytes[..<min(position, bytes.count)].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
        return Failure(reason: "\(reason) at line \(line) (byte \(position))")
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw failure("nesting too deep") }
        guard position < bytes.count else { throw failure("unexpected end of data") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw failure("unexpected character")
        }
    }

    private mutating func expectLiteral(_ literal: String) throws {
        for byte in literal.utf8 {
            guard position < bytes.count, bytes[position] == byte else { throw failure("invalid literal") }
            position += 1
        }
    }

    private mutating func parseObject(depth: Int) throws -> JSONValue {
        position += 1
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw failure("expected a key") }
            let key = try parseString()
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw failure("expected ':'") }
            position += 1
            skipWhitespace()
            members.append((key, try parseValue(depth: depth + 1)))
            skipWhitespace()
            guard position < bytes.count else { throw failure("unterminated object") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            throw failure("expected ',' or '}'")
        }
    }

    private mutating func parseArray(depth: Int) throws -> JSONValue {
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard position < bytes.count else { throw failure("unterminated array") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
            throw failure("expected ',' or ']'")
        }
    }

    private mutating func parseNumber() throws -> JSONValue {
        let start = position
        while position < bytes.count, Self.isNumberByte(bytes[position]) { position += 1 }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        guard let value = Double(text) else { throw failure("invalid number \(text)") }
        return .number(value)
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"),
             UInt8(ascii: "+"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    private mutating func parseString() throws -> String {
        position += 1
        var output: [UInt8] = []
        var runStart = position
        while true {
            guard position < bytes.count else { throw failure("unterminated string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                output.append(contentsOf: bytes[runStart..<position])
                position += 1
                return String(decoding: output, as: UTF8.self)
            }
            if byte < 0x20 { throw failure("control character in string") }
            if byte != UInt8(ascii: "\\") { position += 1; continue }
            output.append(contentsOf: bytes[runStart..<position])
            position += 1
            guard position < bytes.count else { throw failure("unterminated escape") }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""): output.append(0x22)
            case UInt8(ascii: "\\"): output.append(0x5C)
            case UInt8(ascii: "/"): output.append(0x2F)
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if (0xD800..<0xDC00).contains(code), position + 1 < bytes.count,
                   bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                    let save = position
                    position += 2
                    let low = try parseHex4()
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        position = save
                    }
                }
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                output.append(contentsOf: Array(String(scalar).utf8))
            default:
                throw failure("invalid escape")
            }
            runStart = position
        }
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw failure("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw failure("invalid \\u escape")
            }
            value = value * 16 + digit
            position += 1
        }
        return value
    }
}

/// A JSON value together with where it came from, so every read can report file and field.
/// The field path is spelled out only when asked for: vocabularies and merges have many entries.
struct JSONField {
    private enum Step {
        case root
        case key(String)
        case index(Int)
    }

    let value: JSONValue
    let file: String
    private let parentPath: String
    private let step: Step

    init(value: JSONValue, file: String) {
        self.init(value: value, file: file, parentPath: "", step: .root)
    }

    private init(value: JSONValue, file: String, parentPath: String, step: Step) {
        self.value = value
        self.file = file
        self.parentPath = parentPath
        self.step = step
    }

    /// Where the value sits, e.g. `model.merges[3]` or `pre_tokenizer.pretokenizers[1].type`.
    var path: String {
        switch step {
        case .root: return parentPath
        case let .key(key): return parentPath.isEmpty ? key : "\(parentPath).\(key)"
        case let .index(index): return "\(parentPath)[\(index)]"
        }
    }

    func child(_ key: String) -> JSONField? {
        guard let member = value[key] else { return nil }
        if case .null = member { return nil }
        return JSONField(value: member, file: file, parentPath: path, step: .key(key))
    }

    func required(_ key: String) throws -> JSONField {
        guard let field = child(key) else { throw TokenizerError.missingField(file: file, field: fieldPath(key)) }
        return field
    }

    func fieldPath(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    func wrongType(_ expected: String) -> TokenizerError {
        .wrongType(file: file, field: path, expected: expected, found: value.kindName)
    }

    func string() throws -> String {
        guard case let .string(text) = value else { throw wrongType("a string") }
        return text
    }

    func bool() throws -> Bool {
        guard case let .bool(flag) = value else { throw wrongType("a boolean") }
        return flag
    }

    func int() throws -> Int {
        guard case let .number(number) = value, number.rounded() == number, abs(number) < 9e15 else {
            throw wrongType("an integer")
        }
        return Int(number)
    }

    func double() throws -> Double {
        guard case let .number(number) = value else { throw wrongType("a number") }
        return number
    }

    func array() throws -> [JSONField] {
        guard case let .array(elements) = value else { throw wrongType("an array") }
        let path = self.path
        return elements.enumerated().map { JSONField(value: $1, file: file, parentPath: path, step: .index($0)) }
    }

    func members() throws -> [(key: String, value: JSONField)] {
        guard case let .object(members) = value else { throw wrongType("an object") }
        let path = self.path
        return members.map { ($0.key, JSONField(value: $0.value, file: file, parentPath: path, step: .key($0.key))) }
    }

    func requiredString(_ key: String) throws -> String { try required(key).string() }
    func optionalString(_ key: String) throws -> String? { try child(key)?.string() }
    func bool(_ key: String, default fallback: Bool) throws -> Bool { try child(key)?.bool() ?? fallback }
    func int(_ key: String, default fallback: Int) throws -> Int { try child(key)?.int() ?? fallback }

    /// The component's `type` field.
    func typeName() throws -> String { try requiredString("type") }

    func unsupported(_ type: String) -> TokenizerError {
        .unsupportedType(file: file, field: fieldPath("type"), found: type)
    }
}
