/// The `is` tests of jinja2/tests.py.
extension JinjaInterpreter {
    func applyTest(_ name: String, _ value: TemplateValue, _ arguments: CallArguments) throws -> Bool {
        func argument() throws -> TemplateValue {
            guard let other = arguments.value(0, "other") else { throw TemplateRuntimeFailure("test '\(name)' expects an argument") }
            return other
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value.isNone
        case "string": return value.isString
        case "number":
            switch value {
            case .int, .double, .bool: return true
            default: return false
            }
        case "integer":
            if case .int = value { return true }
            return false
        case "float":
            if case .double = value { return true }
            return false
        case "boolean":
            if case .bool = value { return true }
            return false
        case "true":
            if case .bool(true) = value { return true }
            return false
        case "false":
            if case .bool(false) = value { return true }
            return false
        case "mapping":
            if case .dictionary = value { return true }
            return false
        case "iterable", "sequence":
            // jinja2's Undefined has __iter__, __len__ and __getitem__, so it passes both.
            switch value {
            case .undefined, .string, .list, .tuple, .dictionary: return true
            default: return false
            }
        case "callable":
            if case .callable = value { return true }
            return false
        case "even", "odd", "divisibleby":
            let divisor = name == "divisibleby" ? try argument() : .int(2)
            guard case let .int(remainder) = try binary("%", value, divisor) else {
                return try binary("%", value, divisor).pythonEquals(.int(name == "odd" ? 1 : 0))
            }
            return name == "odd" ? remainder == 1 : remainder == 0
        case "equalto", "eq", "==": return value.pythonEquals(try argument())
        case "ne", "!=": return !value.pythonEquals(try argument())
        case "lt", "<": return try compare("<", value, try argument())
        case "le", "<=": return try compare("<=", value, try argument())
        case "gt", ">", "greaterthan": return try compare(">", value, try argument())
        case "ge", ">=": return try compare(">=", value, try argument())
        case "lessthan": return try compare("<", value, try argument())
        case "in": return try contains(try argument(), value)
        case "sameas":
            // Python identity; value types compare by equality of the same type, which is what
            // identity gives for None, booleans and a variable compared with itself.
            let other = try argument()
            switch (value, other) {
            case let (.namespace(a), .namespace(b)): return a === b
            case let (.callable(a), .callable(b)): return a === b
            default: return value.typeName == other.typeName && value.pythonEquals(other)
            }
        case "lower", "upper":
            let text = value.pythonString
            var hasCased = false
            for scalar in text.unicodeScalars {
                let properties = scalar.properties
                if properties.isUppercase || properties.isLowercase {
                    hasCased = true
                    if name == "lower" ? properties.isUppercase : properties.isLowercase { return false }
                }
            }
            return hasCased
        default:
            if JinjaBuiltinNames.tests.contains(name) { throw TemplateRuntimeFailure("test '\(name)' is not supported by this renderer") }
            throw TemplateRuntimeFailure("No test named '\(name)'.")
        }
    }
}
