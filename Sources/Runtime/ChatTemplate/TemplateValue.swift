/// A value while a template renders: the JSON-like data of `JinjaValue` plus what only exists inside
/// a render (undefined values, tuples, namespaces, macros and builtins, the `loop` variable).
enum TemplateValue {
    /// jinja2's default `Undefined`: prints as "", is falsy and iterates as empty, but any attribute,
    /// item, call or arithmetic on it fails with `message`.
    case undefined(message: String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([TemplateValue])
    case tuple([TemplateValue])
    case dictionary(OrderedDictionary)
    case namespace(TemplateNamespace)
    case callable(TemplateCallable)
    case loop(LoopContext)

    static func undefinedName(_ name: String) -> TemplateValue { .undefined(message: "'\(name)' is undefined") }

    init(_ value: JinjaValue) {
        switch value {
        case .none: self = .none
        case let .bool(flag): self = .bool(flag)
        case let .int(number): self = .int(number)
        case let .double(number): self = .double(number)
        case let .string(text): self = .string(text)
        case let .array(items): self = .list(items.map(TemplateValue.init))
        case let .object(object):
            var dictionary = OrderedDictionary()
            for (key, item) in object.pairs { dictionary[key] = TemplateValue(item) }
            self = .dictionary(dictionary)
        }
    }

    init(_ literal: JinjaLiteral) {
        switch literal {
        case .none: self = .none
        case let .bool(flag): self = .bool(flag)
        case let .int(number): self = .int(number)
        case let .double(number): self = .double(number)
        case let .string(text): self = .string(text)
        }
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// Python truthiness.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case let .bool(flag): return flag
        case let .int(number): return number != 0
        case let .double(number): return number != 0
        case let .string(text): return !text.isEmpty
        case let .list(items), let .tuple(items): return !items.isEmpty
        case let .dictionary(dictionary): return dictionary.count > 0
        case .namespace, .callable, .loop: return true
        }
    }

    /// The Python type name, for error messages.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dictionary: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        case .loop: return "LoopContext"
        }
    }
}

/// A string-keyed dictionary that keeps insertion order, like a Python dict.
struct OrderedDictionary {
    private(set) var keys: [String] = []
    private var storage: [String: TemplateValue] = [:]

    var count: Int { keys.count }
    var values: [TemplateValue] { keys.map { storage[$0] ?? TemplateValue.none } }
    var pairs: [(key: String, value: TemplateValue)] { keys.map { ($0, storage[$0] ?? TemplateValue.none) } }

    subscript(key: String) -> TemplateValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }
}

/// `namespace(...)`: the one object a template may mutate, so that loops can carry state out.
final class TemplateNamespace {
    var attributes = OrderedDictionary()
    init(_ attributes: OrderedDictionary) { self.attributes = attributes }
}

/// A builtin function, bound method or macro.
final class TemplateCallable {
    typealias Body = (JinjaInterpreter, CallArguments) throws -> TemplateValue
    let name: String
    let body: Body
    init(name: String, body: @escaping Body) {
        self.name = name
        self.body = body
    }
}

/// The `loop` variable inside a for loop.
struct LoopContext {
    let items: [TemplateValue]
    let index0: Int

    func attribute(_ name: String) -> TemplateValue? {
        switch name {
        case "index": return .int(index0 + 1)
        case "index0": return .int(index0)
        case "revindex": return .int(items.count - index0)
        case "revindex0": return .int(items.count - index0 - 1)
        case "first": return .bool(index0 == 0)
        case "last": return .bool(index0 == items.count - 1)
        case "length": return .int(items.count)
        case "depth": return .int(1)
        case "depth0": return .int(0)
        case "previtem": return index0 > 0 ? items[index0 - 1] : .undefined(message: "there is no previous item")
        case "nextitem": return index0 + 1 < items.count ? items[index0 + 1] : .undefined(message: "there is no next item")
        default: return nil
        }
    }
}

/// Arguments of a call, filter or test, positional and keyword.
struct CallArguments {
    var positional: [TemplateValue] = []
    var keyword: [(name: String, value: TemplateValue)] = []

    /// The argument at `position` or named `name`, if given.
    func value(_ position: Int, _ name: String) -> TemplateValue? {
        if position < positional.count { return positional[position] }
        return keyword.first { $0.name == name }?.value
    }
}
