/// Python methods templates call on values: `str.strip()`, `dict.items()`, `loop.cycle()`...
extension JinjaInterpreter {
    static let dictionaryMethods: Set<String> = ["get", "items", "keys", "values"]
    static let stringMethods: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "startswith", "endswith", "upper", "lower", "title", "capitalize",
        "replace", "find", "count", "join", "splitlines", "isdigit", "isalpha", "isspace",
    ]

    /// A method looked up without being called (`d.items`), callable later.
    func boundMethod(_ receiver: TemplateValue, _ name: String) -> TemplateValue {
        .callable(TemplateCallable(name: name) { interpreter, arguments in
            guard let result = try interpreter.callMethod(on: receiver, name, arguments) else {
                throw TemplateRuntimeFailure("'\(receiver.typeName) object' has no attribute '\(name)'")
            }
            return result
        })
    }

    /// The result of `receiver.name(arguments)`, or nil when `receiver` has no such method.
    func callMethod(on receiver: TemplateValue, _ name: String, _ arguments: CallArguments) throws -> TemplateValue? {
        switch receiver {
        case let .string(text): return try stringMethod(text, name, arguments)
        case let .dictionary(dictionary): return dictionaryMethod(dictionary, name, arguments)
        case let .loop(loop) where name == "cycle":
            guard !arguments.positional.isEmpty else { throw TemplateRuntimeFailure("no items for cycling given") }
            return arguments.positional[loop.index0 % arguments.positional.count]
        default: return nil
        }
    }

    private func dictionaryMethod(_ dictionary: OrderedDictionary, _ name: String, _ arguments: CallArguments) -> TemplateValue? {
        switch name {
        case "get":
            guard case let .string(key)? = arguments.value(0, "key") else { return arguments.value(1, "default") ?? TemplateValue.none }
            return dictionary[key] ?? arguments.value(1, "default") ?? TemplateValue.none
        case "items": return .list(dictionary.pairs.map { .tuple([.string($0.key), $0.value]) })
        case "keys": return .list(dictionary.keys.map(TemplateValue.string))
        case "values": return .list(dictionary.values)
        default: return nil
        }
    }

    private func stringArgument(_ arguments: CallArguments, _ position: Int, _ name: String) throws -> String? {
        switch arguments.value(position, name) {
        case nil, .none?: return nil
        case let .string(text)?: return text
        case let other?: throw TemplateRuntimeFailure("\(name) must be str or None, not \(other.typeName)")
        }
    }

    private func stringMethod(_ text: String, _ name: String, _ arguments: CallArguments) throws -> TemplateValue? {
        switch name {
        case "strip": return .string(PythonText.strip(text, characters: try stringArgument(arguments, 0, "chars")))
        case "lstrip": return .string(PythonText.lstrip(text, characters: try stringArgument(arguments, 0, "chars")))
        case "rstrip": return .string(PythonText.rstrip(text, characters: try stringArgument(arguments, 0, "chars")))
        case "split":
            let separator = try stringArgument(arguments, 0, "sep")
            if separator == "" { throw TemplateRuntimeFailure("empty separator") }
            let maxSplit = arguments.value(1, "maxsplit")?.integerValue ?? -1
            return .list(PythonText.split(text, separator: separator, maxSplit: maxSplit).map(TemplateValue.string))
        case "splitlines": return .list(PythonText.splitLines(text).map(TemplateValue.string))
        case "startswith", "endswith":
            let check = name == "startswith" ? PythonText.startsWith : PythonText.endsWith
            switch arguments.value(0, "prefix") {
            case let .string(affix)?: return .bool(check(text, affix))
            case let .tuple(options)?:
                return .bool(options.contains { if case let .string(affix) = $0 { return check(text, affix) } else { return false } })
            default: throw TemplateRuntimeFailure("\(name) first arg must be str or a tuple of str")
            }
        case "upper": return .string(PythonText.upper(text))
        case "lower": return .string(PythonText.lower(text))
        case "title": return .string(PythonText.title(text))
        case "capitalize": return .string(PythonText.capitalize(text))
        case "replace":
            guard case let .string(old)? = arguments.value(0, "old"), case let .string(new)? = arguments.value(1, "new") else {
                throw TemplateRuntimeFailure("replace() arguments must be str")
            }
            return .string(PythonText.replace(text, old, new, count: arguments.value(2, "count")?.integerValue ?? -1))
        case "find", "count":
            guard case let .string(needle)? = arguments.value(0, "sub") else { throw TemplateRuntimeFailure("\(name)() argument must be str") }
            return .int(name == "find" ? PythonText.find(text, needle) : PythonText.count(text, needle))
        case "join":
            let items = try iterate(arguments.value(0, "iterable") ?? .list([]))
            return .string(try items.map { item -> String in
                guard case let .string(part) = item else { throw TemplateRuntimeFailure("sequence item: expected str instance, \(item.typeName) found") }
                return part
            }.joined(separator: text))
        case "isdigit": return .bool(!text.isEmpty && text.unicodeScalars.allSatisfy { $0.properties.numericType == .decimal || $0.properties.numericType == .digit })
        case "isalpha": return .bool(!text.isEmpty && text.unicodeScalars.allSatisfy { $0.properties.isAlphabetic })
        case "isspace": return .bool(!text.isEmpty && text.unicodeScalars.allSatisfy(PythonText.isWhitespace))
        default: return nil
        }
    }
}
