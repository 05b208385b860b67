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
    /// The lazy generator that jinja2's select, reject, selectattr, rejectattr, map, unique, items
    /// and reverse filters return: iterable, always truthy, without a length or items, printed
    /// as a generator object. `|list` turns it into a list.
    case iterator([TemplateValue])

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
        case .namespace, .callable, .loop, .iterator: return true
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
        case .iterator: return "generator"
        }
    }
}
