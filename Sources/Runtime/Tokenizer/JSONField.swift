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

    /// An integer literal, or a number with an integral value (`2.0`, `1e3`) as before integers were kept apart.
    func int() throws -> Int {
        switch value {
        case let .integer(integer):
            return integer
        case let .number(number) where number.rounded() == number && abs(number) < 9e15:
            return Int(number)
        default:
            throw wrongType("an integer")
        }
    }

    func double() throws -> Double {
        switch value {
        case let .integer(integer): return Double(integer)
        case let .number(number): return number
        default: throw wrongType("a number")
        }
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
