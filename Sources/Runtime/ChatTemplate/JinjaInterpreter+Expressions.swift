import Foundation

/// Expression evaluation with Python's operator semantics, as jinja2 compiles them.
extension JinjaInterpreter {
    func evaluate(_ expression: JinjaExpression) throws -> TemplateValue {
        switch expression.kind {
        case let .literal(literal):
            return TemplateValue(literal)
        case let .name(name):
            return environment.lookup(name) ?? .undefinedName(name)
        case let .list(items):
            return .list(try items.map(evaluate))
        case let .tuple(items):
            return .tuple(try items.map(evaluate))
        case let .dictionary(entries):
            var dictionary = OrderedDictionary()
            for entry in entries {
                guard case let .string(key) = try evaluate(entry.key) else {
                    throw TemplateRuntimeFailure("only string keys are supported in dict literals")
                }
                dictionary[key] = try evaluate(entry.value)
            }
            return .dictionary(dictionary)
        case let .attribute(object, name):
            return try attribute(of: try evaluate(object), name)
        case let .item(object, key):
            return try item(of: try evaluate(object), try evaluate(key))
        case let .slice(object, start, stop, step):
            return try slice(try evaluate(object), start: start.map(evaluate), stop: stop.map(evaluate), step: step.map(evaluate))
        case let .call(callee, arguments):
            return try evaluateCall(callee, arguments)
        case let .filter(value, name, arguments):
            return try applyFilter(name, try evaluate(value), try evaluateArguments(arguments))
        case let .test(value, name, arguments, negated):
            let result = try applyTest(name, try evaluate(value), try evaluateArguments(arguments))
            return .bool(result != negated)
        case let .unary(op, operand):
            return try unary(op, try evaluate(operand))
        case let .binary(op, left, right):
            return try binary(op, try evaluate(left), try evaluate(right))
        case let .and(left, right):
            let value = try evaluate(left)
            return value.isTruthy ? try evaluate(right) : value
        case let .or(left, right):
            let value = try evaluate(left)
            return value.isTruthy ? value : try evaluate(right)
        case let .compare(first, operands):
            var left = try evaluate(first)
            for operand in operands {
                let right = try evaluate(operand.operand)
                guard try compare(operand.op, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case let .conditional(condition, then, otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(then) }
            return try otherwise.map(evaluate) ?? .undefined(message: "the inline if-expression on line \(expression.line) evaluated to false and no else section was defined.")
        }
    }

    func evaluateArguments(_ arguments: [JinjaArgument]) throws -> CallArguments {
        var evaluated = CallArguments()
        for argument in arguments {
            let value = try evaluate(argument.value)
            if let name = argument.name { evaluated.keyword.append((name, value)) } else { evaluated.positional.append(value) }
        }
        return evaluated
    }

    private func evaluateCall(_ callee: JinjaExpression, _ arguments: [JinjaArgument]) throws -> TemplateValue {
        if case let .attribute(objectExpression, name) = callee.kind {
            let object = try evaluate(objectExpression)
            let evaluated = try evaluateArguments(arguments)
            if let result = try callMethod(on: object, name, evaluated) { return result }
            return try callValue(try attribute(of: object, name), evaluated)
        }
        return try callValue(try evaluate(callee), try evaluateArguments(arguments))
    }

    func callValue(_ function: TemplateValue, _ arguments: CallArguments) throws -> TemplateValue {
        switch function {
        case let .callable(callable): return try callable.body(self, arguments)
        case let .undefined(message): throw TemplateRuntimeFailure(message)
        default: throw TemplateRuntimeFailure("'\(function.typeName)' object is not callable")
        }
    }

    // MARK: - Attribute and item access (jinja2 Environment.getattr / getitem)

    func attribute(of object: TemplateValue, _ name: String) throws -> TemplateValue {
        switch object {
        case let .undefined(message):
            throw TemplateRuntimeFailure(message)
        case let .dictionary(dictionary):
            if Self.dictionaryMethods.contains(name) { return boundMethod(object, name) }
            return dictionary[name] ?? .undefined(message: "'dict object' has no attribute '\(name)'")
        case let .namespace(namespace):
            return namespace.attributes[name] ?? .undefined(message: "'Namespace object' has no attribute '\(name)'")
        case let .loop(loop):
            if name == "cycle" { return boundMethod(object, name) }
            return loop.attribute(name) ?? .undefined(message: "'LoopContext object' has no attribute '\(name)'")
        case .string where Self.stringMethods.contains(name):
            return boundMethod(object, name)
        default:
            return .undefined(message: "'\(object.typeName) object' has no attribute '\(name)'")
        }
    }

    func item(of object: TemplateValue, _ key: TemplateValue) throws -> TemplateValue {
        switch (object, key) {
        case let (.undefined(message), _):
            throw TemplateRuntimeFailure(message)
        case let (.list(items), _), let (.tuple(items), _):
            guard let index = key.integerValue else { return .undefined(message: "'\(object.typeName) object' has no attribute \(key.pythonRepr)") }
            let resolved = index < 0 ? items.count + index : index
            return items.indices.contains(resolved) ? items[resolved] : .undefined(message: "\(object.typeName) object has no element \(index)")
        case let (.string(text), _):
            guard let index = key.integerValue else { return .undefined(message: "'str object' has no attribute \(key.pythonRepr)") }
            let scalars = Array(text.unicodeScalars)
            let resolved = index < 0 ? scalars.count + index : index
            return scalars.indices.contains(resolved) ? .string(String(scalars[resolved])) : .undefined(message: "str object has no element \(index)")
        case let (.dictionary(dictionary), .string(name)):
            return dictionary[name] ?? .undefined(message: "'dict object' has no attribute '\(name)'")
        case let (_, .string(name)):
            return try attribute(of: object, name)
        default:
            return .undefined(message: "'\(object.typeName) object' has no attribute \(key.pythonRepr)")
        }
    }

    /// Python slice semantics, including negative bounds and steps (`[::-1]`).
    func slice(_ object: TemplateValue, start: TemplateValue?, stop: TemplateValue?, step: TemplateValue?) throws -> TemplateValue {
        func bound(_ value: TemplateValue?) throws -> Int? {
            guard let value, !(value.isNone) else { return nil }
            guard let integer = value.integerValue else { throw TemplateRuntimeFailure("slice indices must be integers or None") }
            return integer
        }
        let stepValue = try bound(step) ?? 1
        guard stepValue != 0 else { throw TemplateRuntimeFailure("slice step cannot be zero") }
        func indices(count: Int) throws -> [Int] {
            func clamp(_ value: Int?, _ defaultValue: Int) -> Int {
                guard var value else { return defaultValue }
                if value < 0 { value += count }
                return stepValue > 0 ? min(max(value, 0), count) : min(max(value, -1), count - 1)
            }
            let from = clamp(try bound(start), stepValue > 0 ? 0 : count - 1)
            let to = clamp(try bound(stop), stepValue > 0 ? count : -1)
            return Array(stride(from: from, to: to, by: stepValue))
        }
        switch object {
        case let .undefined(message): throw TemplateRuntimeFailure(message)
        case let .list(items): return .list(try indices(count: items.count).map { items[$0] })
        case let .tuple(items): return .tuple(try indices(count: items.count).map { items[$0] })
        case let .string(text):
            let scalars = Array(text.unicodeScalars)
            return .string(PythonText.string(try indices(count: scalars.count).map { scalars[$0] }))
        case .dictionary: throw TemplateRuntimeFailure("unhashable type: 'slice'")
        default:
            // jinja2 compiles slices to plain Python subscripts, bypassing its forgiving getitem.
            throw TemplateRuntimeFailure("'\(object.typeName)' object is not subscriptable")
        }
    }

    // MARK: - Operators

    private func unary(_ op: String, _ value: TemplateValue) throws -> TemplateValue {
        switch (op, value) {
        case ("not", _): return .bool(!value.isTruthy)
        case let (_, .undefined(message)): throw TemplateRuntimeFailure(message)
        case let ("-", .int(number)): return .int(-number)
        case let ("-", .double(number)): return .double(-number)
        case let ("-", .bool(flag)): return .int(flag ? -1 : 0)
        case ("+", .int), ("+", .double): return value
        case let ("+", .bool(flag)): return .int(flag ? 1 : 0)
        default: throw TemplateRuntimeFailure("bad operand type for unary \(op): '\(value.typeName)'")
        }
    }

    func binary(_ op: String, _ left: TemplateValue, _ right: TemplateValue) throws -> TemplateValue {
        if op == "~" { return .string(try Self.concatenated(left.pythonString, right.pythonString)) }
        if case let .undefined(message) = left { throw TemplateRuntimeFailure(message) }
        if case let .undefined(message) = right { throw TemplateRuntimeFailure(message) }
        let unsupported = TemplateRuntimeFailure("unsupported operand type(s) for \(op): '\(left.typeName)' and '\(right.typeName)'")
        switch (op, left, right) {
        case let ("+", .string(a), .string(b)): return .string(try Self.concatenated(a, b))
        case let ("+", .list(a), .list(b)):
            try Self.checkRepetition(1, of: a.count + b.count)
            return .list(a + b)
        case let ("+", .tuple(a), .tuple(b)):
            try Self.checkRepetition(1, of: a.count + b.count)
            return .tuple(a + b)
        case let ("*", .string(text), _), let ("*", _, .string(text)):
            guard let count = (left.isString ? right : left).integerValue, !(left.isString && right.isString) else { throw unsupported }
            try Self.checkRepetition(count, of: text.utf8.count)
            return .string(String(repeating: text, count: max(count, 0)))
        case let ("*", .list(items), _), let ("*", _, .list(items)):
            guard let count = (left.isList ? right : left).integerValue else { throw unsupported }
            try Self.checkRepetition(count, of: items.count)
            return .list(Array(repeatElement(items, count: max(count, 0)).joined()))
        case let ("*", .tuple(items), _), let ("*", _, .tuple(items)):
            guard let count = (left.isTuple ? right : left).integerValue else { throw unsupported }
            try Self.checkRepetition(count, of: items.count)
            return .tuple(Array(repeatElement(items, count: max(count, 0)).joined()))
        default:
            break
        }
        guard let a = left.number, let b = right.number else { throw unsupported }
        if case let (.integer(x), .integer(y)) = (a, b) { return try integerArithmetic(op, x, y) }
        let x = a.doubleValue
        let y = b.doubleValue
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/":
            guard y != 0 else { throw TemplateRuntimeFailure("float division by zero") }
            return .double(x / y)
        case "//":
            guard y != 0 else { throw TemplateRuntimeFailure("float floor division by zero") }
            return .double((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw TemplateRuntimeFailure("float modulo") }
            let remainder = x.truncatingRemainder(dividingBy: y)
            return .double(remainder != 0 && (remainder < 0) != (y < 0) ? remainder + y : remainder)
        case "**":
            let result = pow(x, y)
            if result.isInfinite, x.isFinite, y.isFinite { throw TemplateRuntimeFailure("(34, 'Numerical result out of range')") }
            return .double(result)
        default: throw unsupported
        }
    }

    private func integerArithmetic(_ op: String, _ x: Int, _ y: Int) throws -> TemplateValue {
        let overflow = TemplateRuntimeFailure("integer overflow in \(x) \(op) \(y)")
        switch op {
        case "+":
            let (result, overflowed) = x.addingReportingOverflow(y)
            if overflowed { throw overflow }
            return .int(result)
        case "-":
            let (result, overflowed) = x.subtractingReportingOverflow(y)
            if overflowed { throw overflow }
            return .int(result)
        case "*":
            let (result, overflowed) = x.multipliedReportingOverflow(by: y)
            if overflowed { throw overflow }
            return .int(result)
        case "/":
            guard y != 0 else { throw TemplateRuntimeFailure("division by zero") }
            return .double(Double(x) / Double(y))
        case "//":
            guard y != 0 else { throw TemplateRuntimeFailure("integer division or modulo by zero") }
            let quotient = x / y
            return .int((x % y != 0 && (x < 0) != (y < 0)) ? quotient - 1 : quotient)
        case "%":
            guard y != 0 else { throw TemplateRuntimeFailure("integer division or modulo by zero") }
            let remainder = x % y
            return .int(remainder != 0 && (remainder < 0) != (y < 0) ? remainder + y : remainder)
        case "**":
            if y < 0 { return .double(pow(Double(x), Double(y))) }
            var result = 1
            for _ in 0..<y {
                let (next, overflowed) = result.multipliedReportingOverflow(by: x)
                if overflowed { throw overflow }
                result = next
            }
            return .int(result)
        default:
            throw TemplateRuntimeFailure("unsupported operator \(op)")
        }
    }

    func compare(_ op: String, _ left: TemplateValue, _ right: TemplateValue) throws -> Bool {
        switch op {
        case "==": return left.pythonEquals(right)
        case "!=": return !left.pythonEquals(right)
        case "in": return try contains(right, left)
        case "notin": return try !contains(right, left)
        default:
            let order = try left.pythonOrder(right, op: op)
            switch op {
            case "<": return order < 0
            case "<=": return order <= 0
            case ">": return order > 0
            default: return order >= 0
            }
        }
    }

    func contains(_ container: TemplateValue, _ element: TemplateValue) throws -> Bool {
        switch container {
        case let .string(text):
            guard case let .string(needle) = element else {
                throw TemplateRuntimeFailure("'in <string>' requires string as left operand, not \(element.typeName)")
            }
            return PythonText.contains(text, needle)
        case let .list(items), let .tuple(items), let .iterator(items): return items.contains { $0.pythonEquals(element) }
        case let .dictionary(dictionary):
            guard case let .string(key) = element else { return false }
            return dictionary[key] != nil
        case let .namespace(namespace):
            guard case let .string(key) = element else { return false }
            return namespace.attributes[key] != nil
        case .undefined: return false
        default: throw TemplateRuntimeFailure("argument of type '\(container.typeName)' is not iterable")
        }
    }
}
