/// Python semantics of values: how they print (`str()` for `{{ }}` and `~`, `repr()` inside
/// containers), compare, and act as numbers.
extension TemplateValue {
    /// `str(value)`; undefined prints as the empty string.
    var pythonString: String {
        switch self {
        case .undefined: return ""
        case let .string(text): return text
        default: return pythonRepr
        }
    }

    var pythonRepr: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "None"
        case let .bool(flag): return flag ? "True" : "False"
        case let .int(number): return String(number)
        case let .double(number): return PythonRepr.float(number)
        case let .string(text): return PythonRepr.string(text)
        case let .list(items): return "[" + items.map(\.pythonRepr).joined(separator: ", ") + "]"
        case let .tuple(items):
            return items.count == 1 ? "(\(items[0].pythonRepr),)" : "(" + items.map(\.pythonRepr).joined(separator: ", ") + ")"
        case let .dictionary(dictionary):
            return "{" + dictionary.pairs.map { "\(PythonRepr.string($0.key)): \($0.value.pythonRepr)" }.joined(separator: ", ") + "}"
        case let .namespace(namespace):
            return "<Namespace {" + namespace.attributes.pairs.map { "\(PythonRepr.string($0.key)): \($0.value.pythonRepr)" }.joined(separator: ", ") + "}>"
        case let .callable(callable): return "<function \(callable.name)>"
        case let .loop(loop): return "<LoopContext \(loop.index0 + 1)/\(loop.items.count)>"
        case .iterator: return "<generator object>"
        }
    }
}

/// A Python number: bool and int are integers, float is a double.
enum PythonNumber {
    case integer(Int)
    case floating(Double)

    var doubleValue: Double {
        switch self {
        case let .integer(value): return Double(value)
        case let .floating(value): return value
        }
    }
}

extension TemplateValue {
    var number: PythonNumber? {
        switch self {
        case let .int(value): return .integer(value)
        case let .bool(flag): return .integer(flag ? 1 : 0)
        case let .double(value): return .floating(value)
        default: return nil
        }
    }

    var integerValue: Int? {
        switch self {
        case let .int(value): return value
        case let .bool(flag): return flag ? 1 : 0
        default: return nil
        }
    }

    var isNone: Bool {
        if case .none = self { return true }
        return false
    }

    var isString: Bool {
        if case .string = self { return true }
        return false
    }

    var isList: Bool {
        if case .list = self { return true }
        return false
    }

    var isTuple: Bool {
        if case .tuple = self { return true }
        return false
    }

    /// Python `==`: numbers across int/float/bool, strings by code point, containers element-wise,
    /// dicts regardless of order; undefined equals only undefined.
    func pythonEquals(_ other: TemplateValue) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.string(a), .string(b)): return PythonText.equal(a, b)
        case let (.list(a), .list(b)), let (.tuple(a), .tuple(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.pythonEquals($1) }
        case let (.dictionary(a), .dictionary(b)):
            return a.count == b.count && a.pairs.allSatisfy { pair in b[pair.key].map { pair.value.pythonEquals($0) } ?? false }
        case let (.namespace(a), .namespace(b)): return a === b
        case let (.callable(a), .callable(b)): return a === b
        default:
            guard let a = number, let b = other.number else { return false }
            if case let (.integer(x), .integer(y)) = (a, b) { return x == y }
            return a.doubleValue == b.doubleValue
        }
    }

    /// -1, 0 or 1 for Python's `<` family; a TypeError for unorderable types.
    func pythonOrder(_ other: TemplateValue, op: String) throws -> Int {
        switch (self, other) {
        case let (.undefined(message), _), let (_, .undefined(message)):
            throw TemplateRuntimeFailure(message)
        case let (.string(a), .string(b)):
            return PythonText.equal(a, b) ? 0 : (PythonText.less(a, b) ? -1 : 1)
        case let (.list(a), .list(b)), let (.tuple(a), .tuple(b)):
            for (x, y) in zip(a, b) where !x.pythonEquals(y) { return try x.pythonOrder(y, op: op) }
            return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
        default:
            guard let a = number, let b = other.number else {
                throw TemplateRuntimeFailure("'\(op)' not supported between instances of '\(typeName)' and '\(other.typeName)'")
            }
            if case let (.integer(x), .integer(y)) = (a, b) { return x == y ? 0 : (x < y ? -1 : 1) }
            let x = a.doubleValue
            let y = b.doubleValue
            return x == y ? 0 : (x < y ? -1 : 1)
        }
    }
}
