/// A JSON-like value passed into a chat template: messages, tools, and extra template variables.
///
/// Objects keep their key order, because templates iterate over them and `tojson` prints them in
/// insertion order, as Python dicts do.
public enum JinjaValue: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    case object(JinjaObject)

    public init(_ value: String) { self = .string(value) }
    public init(_ value: Int) { self = .int(value) }
    public init(_ value: Double) { self = .double(value) }
    public init(_ value: Bool) { self = .bool(value) }
    public init(_ values: [JinjaValue]) { self = .array(values) }
    /// Keys in the order given.
    public init(_ pairs: KeyValuePairs<String, JinjaValue>) { self = .object(JinjaObject(pairs.map { ($0.key, $0.value) })) }
    public init(_ object: JinjaObject) { self = .object(object) }

    /// A message as transformers passes it to the template: `{"role": ..., "content": ...}`.
    public init(_ message: ChatMessage) {
        self = .object(JinjaObject([("role", .string(message.role)), ("content", .string(message.content))]))
    }
}

extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JinjaValue...) { self = .array(elements) }
    /// Dictionary literals keep their written order.
    public init(dictionaryLiteral elements: (String, JinjaValue)...) { self = .object(JinjaObject(elements)) }
    public init(nilLiteral: ()) { self = .none }
}

/// A string-keyed object that remembers insertion order, like a Python dict.
public struct JinjaObject: Sendable, Equatable {
    public private(set) var keys: [String] = []
    private var storage: [String: JinjaValue] = [:]

    public init() {}

    /// Later duplicates replace the value but keep the first position, as a Python dict does.
    public init(_ pairs: [(String, JinjaValue)]) {
        for (key, value) in pairs { self[key] = value }
    }

    public var count: Int { keys.count }
    public var pairs: [(key: String, value: JinjaValue)] { keys.map { ($0, storage[$0] ?? JinjaValue.none) } }

    public subscript(key: String) -> JinjaValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// Equal when they hold the same keys and values, in any order (Python dict equality).
    public static func == (lhs: JinjaObject, rhs: JinjaObject) -> Bool { lhs.storage == rhs.storage }
}
