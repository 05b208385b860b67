import Foundation

/// The filters of jinja2/filters.py that chat templates use, plus transformers' `tojson`.
extension JinjaInterpreter {
    func applyFilter(_ name: String, _ value: TemplateValue, _ arguments: CallArguments) throws -> TemplateValue {
        switch name {
        case "trim":
            let characters: String?
            if case let .string(text)? = arguments.value(0, "chars") { characters = text } else { characters = nil }
            return .string(PythonText.strip(value.pythonString, characters: characters))
        case "length", "count":
            return .int(try length(of: value))
        case "tojson":
            return .string(try toJSON(value, arguments))
        case "upper": return .string(PythonText.upper(value.pythonString))
        case "lower": return .string(PythonText.lower(value.pythonString))
        case "title": return .string(PythonText.jinjaTitle(value.pythonString))
        case "capitalize": return .string(PythonText.capitalize(value.pythonString))
        case "string": return .string(value.pythonString)
        case "safe": return value
        case "escape", "e", "forceescape": return .string(Self.escapeHTML(value.pythonString))
        case "wordcount": return .int(PythonText.wordCount(value.pythonString))
        case "default", "d":
            let fallback = arguments.value(0, "default_value") ?? .string("")
            let boolean = arguments.value(1, "boolean")?.isTruthy ?? false
            if value.isUndefined || (boolean && !value.isTruthy) { return fallback }
            return value
        case "first":
            return try iterate(value).first ?? .undefined(message: "No first item, sequence was empty.")
        case "last":
            return try iterate(value).last ?? .undefined(message: "No last item, sequence was empty.")
        case "join":
            var items = try iterate(value)
            if let attribute = arguments.value(1, "attribute") { items = try items.map { try lookupPath($0, attribute) } }
            let separator = arguments.value(0, "d")?.pythonString ?? ""
            return .string(items.map(\.pythonString).joined(separator: separator))
        case "replace":
            guard let old = arguments.value(0, "old"), let new = arguments.value(1, "new") else {
                throw TemplateRuntimeFailure("replace filter needs old and new strings")
            }
            let count = arguments.value(2, "count")?.integerValue ?? -1
            return .string(PythonText.replace(value.pythonString, old.pythonString, new.pythonString, count: count))
        case "int", "float":
            // int(Undefined) raises before the filter's fallback applies.
            if case let .undefined(message) = value { throw TemplateRuntimeFailure(message) }
            return name == "int" ? try toInt(value, arguments) : toFloat(value, arguments)
        case "list": return .list(try iterate(value))
        case "abs":
            switch value {
            case let .int(number): return .int(abs(number))
            case let .double(number): return .double(abs(number))
            case let .bool(flag): return .int(flag ? 1 : 0)
            default: throw TemplateRuntimeFailure("bad operand type for abs(): '\(value.typeName)'")
            }
        case "round": return try round(value, arguments)
        case "items":
            switch value {
            case .undefined: return .iterator([])
            case let .dictionary(dictionary): return .iterator(dictionary.pairs.map { .tuple([.string($0.key), $0.value]) })
            default: throw TemplateRuntimeFailure("Can only get item pairs from a mapping.")
            }
        case "dictsort": return try dictsort(value, arguments)
        case "reverse":
            if case let .string(text) = value { return .string(PythonText.string(text.unicodeScalars.reversed())) }
            if case let .list(items) = value { return .iterator(items.reversed()) }
            return .list(try iterate(value).reversed())
        case "sort":
            let attribute = arguments.value(2, "attribute")
            return .list(try sorted(try iterate(value), reverse: arguments.value(0, "reverse")?.isTruthy ?? false,
                                    caseSensitive: arguments.value(1, "case_sensitive")?.isTruthy ?? false) { item in
                try attribute.map { try self.lookupPath(item, $0) } ?? item
            })
        case "unique":
            let caseSensitive = arguments.value(0, "case_sensitive")?.isTruthy ?? false
            let attribute = arguments.value(1, "attribute")
            var seen: [TemplateValue] = []
            var result: [TemplateValue] = []
            for item in try iterate(value) {
                var key = try attribute.map { try lookupPath(item, $0) } ?? item
                if !caseSensitive, case let .string(text) = key { key = .string(PythonText.lower(text)) }
                if !seen.contains(where: { $0.pythonEquals(key) }) {
                    seen.append(key)
                    result.append(item)
                }
            }
            return .iterator(result)
        case "min", "max":
            let caseSensitive = arguments.value(0, "case_sensitive")?.isTruthy ?? false
            let attribute = arguments.value(1, "attribute")
            let ordered = try sorted(try iterate(value), reverse: false, caseSensitive: caseSensitive) { item in
                try attribute.map { try self.lookupPath(item, $0) } ?? item
            }
            return (name == "min" ? ordered.first : ordered.last) ?? .undefined(message: "No aggregated item, sequence was empty.")
        case "sum":
            let attribute = arguments.value(0, "attribute")
            var total = arguments.value(1, "start") ?? .int(0)
            for item in try iterate(value) {
                total = try binary("+", total, try attribute.map { try lookupPath(item, $0) } ?? item)
            }
            return total
        case "indent": return try indent(value, arguments)
        case "select", "reject":
            // jinja2 iterates only a truthy value, so `false|select` is empty rather than an error.
            guard value.isTruthy else { return .iterator([]) }
            return .iterator(try iterate(value).filter { item in try selectTest(item, arguments, offset: 0) == (name == "select") })
        case "selectattr", "rejectattr":
            guard let attribute = arguments.value(0, "attribute") else { throw TemplateRuntimeFailure("\(name) needs an attribute name") }
            guard value.isTruthy else { return .iterator([]) }
            return .iterator(try iterate(value).filter { item in
                try selectTest(try lookupPath(item, attribute), arguments, offset: 1) == (name == "selectattr")
            })
        case "map": return try map(value, arguments)
        case "batch":
            guard let size = arguments.value(0, "linecount")?.integerValue, size > 0 else {
                throw TemplateRuntimeFailure("batch needs a positive line count")
            }
            let fill = arguments.value(1, "fill_with")
            let items = try iterate(value)
            return .iterator(stride(from: 0, to: items.count, by: size).map { start in
                var batch = Array(items[start..<min(start + size, items.count)])
                if let fill, !fill.isNone { batch += Array(repeating: fill, count: size - batch.count) }
                return .list(batch)
            })
        default:
            if JinjaBuiltinNames.filters.contains(name) { throw TemplateRuntimeFailure("filter '\(name)' is not supported by this renderer") }
            throw TemplateRuntimeFailure("No filter named '\(name)'.")
        }
    }

    func length(of value: TemplateValue) throws -> Int {
        switch value {
        case .undefined: return 0
        case let .string(text): return PythonText.length(text)
        case let .list(items), let .tuple(items): return items.count
        case let .dictionary(dictionary): return dictionary.count
        case let .namespace(namespace): return namespace.attributes.count
        default: throw TemplateRuntimeFailure("object of type '\(value.typeName)' has no len()")
        }
    }

    private func toJSON(_ value: TemplateValue, _ arguments: CallArguments) throws -> String {
        var indent: String?
        switch arguments.value(1, "indent") {
        case let .int(spaces)?: indent = String(repeating: " ", count: max(spaces, 0))
        case let .string(text)?: indent = text
        default: indent = nil
        }
        var separators: (item: String, key: String)?
        switch arguments.value(2, "separators") {
        case let .tuple(pair)?, let .list(pair)?:
            guard pair.count == 2, case let .string(item) = pair[0], case let .string(key) = pair[1] else {
                throw TemplateRuntimeFailure("separators must be a pair of strings")
            }
            separators = (item, key)
        default: separators = nil
        }
        let encoder = PythonJSON(indent: indent, separators: separators,
                                 sortKeys: arguments.value(3, "sort_keys")?.isTruthy ?? false,
                                 ensureASCII: arguments.value(0, "ensure_ascii")?.isTruthy ?? false)
        do {
            return try encoder.encode(value)
        } catch let error as PythonJSON.NotSerializable {
            throw TemplateRuntimeFailure("Object of type \(error.typeName) is not JSON serializable")
        }
    }

    /// `int` filter: int(value), else int(float(value)), else the default (0).
    private func toInt(_ value: TemplateValue, _ arguments: CallArguments) throws -> TemplateValue {
        let fallback = arguments.value(0, "default") ?? .int(0)
        switch value {
        case .int: return value
        case let .bool(flag): return .int(flag ? 1 : 0)
        case let .double(number):
            guard number.isFinite, let integer = Int(exactly: number.rounded(.towardZero)) else { return fallback }
            return .int(integer)
        case let .string(text):
            let trimmed = PythonText.strip(text).replacingOccurrences(of: "_", with: "")
            let base = arguments.value(1, "base")?.integerValue ?? 10
            if let integer = Int(trimmed, radix: base) { return .int(integer) }
            if let number = Double(trimmed), number.isFinite, let integer = Int(exactly: number.rounded(.towardZero)) { return .int(integer) }
            return fallback
        default: return fallback
        }
    }

    private func toFloat(_ value: TemplateValue, _ arguments: CallArguments) -> TemplateValue {
        let fallback = arguments.value(0, "default") ?? .double(0)
        switch value {
        case let .int(number): return .double(Double(number))
        case let .bool(flag): return .double(flag ? 1 : 0)
        case .double: return value
        case let .string(text):
            let trimmed = PythonText.strip(text)
            switch trimmed.lowercased() {
            case "inf", "+inf", "infinity", "+infinity": return .double(.infinity)
            case "-inf", "-infinity": return .double(-.infinity)
            case "nan", "+nan", "-nan": return .double(.nan)
            default: return Double(trimmed.replacingOccurrences(of: "_", with: "")).map(TemplateValue.double) ?? fallback
            }
        default: return fallback
        }
    }

    /// `round`: 'common' rounds half to even on the exact binary value (Python's round), 'ceil' and 'floor' likewise.
    private func round(_ value: TemplateValue, _ arguments: CallArguments) throws -> TemplateValue {
        guard let number = value.number?.doubleValue else { throw TemplateRuntimeFailure("type \(value.typeName) doesn't define __round__ method") }
        let precision = arguments.value(0, "precision")?.integerValue ?? 0
        let method = arguments.value(1, "method")?.pythonString ?? "common"
        let scale = pow(10.0, Double(precision))
        switch method {
        case "common":
            // Python's round(int, n) stays an int.
            if let integer = value.integerValue, precision >= 0 { return .int(integer) }
            guard number.isFinite else { return .double(number) }
            let formatted = String(format: "%.\(max(precision, 0))f", number)
            if precision >= 0 { return .double(Double(formatted) ?? number) }
            return .double((number * scale).rounded(.toNearestOrEven) / scale)
        case "ceil": return .double((number * scale).rounded(.up) / scale)
        case "floor": return .double((number * scale).rounded(.down) / scale)
        default: throw TemplateRuntimeFailure("method must be common, ceil or floor")
        }
    }

    private func dictsort(_ value: TemplateValue, _ arguments: CallArguments) throws -> TemplateValue {
        guard case let .dictionary(dictionary) = value else { throw TemplateRuntimeFailure("dictsort expects a mapping") }
        let caseSensitive = arguments.value(0, "case_sensitive")?.isTruthy ?? false
        let byValue = arguments.value(1, "by")?.pythonString == "value"
        let reverse = arguments.value(2, "reverse")?.isTruthy ?? false
        let pairs = dictionary.pairs.map { TemplateValue.tuple([.string($0.key), $0.value]) }
        return .list(try sorted(pairs, reverse: reverse, caseSensitive: caseSensitive) { pair in
            guard case let .tuple(parts) = pair else { return pair }
            return parts[byValue ? 1 : 0]
        })
    }

    /// Python's `sorted` (stable, `reverse` keeps equal items in order) with jinja2's case folding of string keys.
    func sorted(_ items: [TemplateValue], reverse: Bool, caseSensitive: Bool,
                key: (TemplateValue) throws -> TemplateValue) throws -> [TemplateValue]
    {
        let keys = try items.map { item -> TemplateValue in
            let value = try key(item)
            if !caseSensitive, case let .string(text) = value { return .string(PythonText.lower(text)) }
            return value
        }
        var failure: Error?
        let order = items.indices.sorted { a, b in
            do {
                let comparison = try keys[a].pythonOrder(keys[b], op: "<")
                if comparison != 0 { return reverse ? comparison > 0 : comparison < 0 }
            } catch {
                failure = error
            }
            return a < b
        }
        if let failure { throw failure }
        return order.map { items[$0] }
    }

    /// jinja2's attribute getter: a dotted path, integer parts as indices.
    func lookupPath(_ item: TemplateValue, _ path: TemplateValue) throws -> TemplateValue {
        if let index = path.integerValue { return try self.item(of: item, .int(index)) }
        var current = item
        for part in path.pythonString.split(separator: ".", omittingEmptySubsequences: false) {
            let key: TemplateValue = Int(part).map(TemplateValue.int) ?? .string(String(part))
            current = try self.item(of: current, key)
        }
        return current
    }

    /// For select/reject: test named at `offset` (truthiness when absent) with the remaining arguments.
    private func selectTest(_ value: TemplateValue, _ arguments: CallArguments, offset: Int) throws -> Bool {
        guard arguments.positional.count > offset else { return value.isTruthy }
        let testName = arguments.positional[offset].pythonString
        let testArguments = CallArguments(positional: Array(arguments.positional.dropFirst(offset + 1)), keyword: arguments.keyword)
        return try applyTest(testName, value, testArguments)
    }

    private func map(_ value: TemplateValue, _ arguments: CallArguments) throws -> TemplateValue {
        guard value.isTruthy else { return .iterator([]) }
        let items = try iterate(value)
        if arguments.positional.isEmpty, let attribute = arguments.keyword.first(where: { $0.name == "attribute" })?.value {
            let fallback = arguments.keyword.first { $0.name == "default" }?.value
            return .iterator(try items.map { item in
                let result = try lookupPath(item, attribute)
                if result.isUndefined, let fallback { return fallback }
                return result
            })
        }
        guard let filterName = arguments.positional.first?.pythonString else { throw TemplateRuntimeFailure("map requires a filter argument") }
        let filterArguments = CallArguments(positional: Array(arguments.positional.dropFirst()), keyword: arguments.keyword)
        return .iterator(try items.map { try applyFilter(filterName, $0, filterArguments) })
    }

    /// `indent(width=4, first=False, blank=False)`, with jinja2's splitlines quirks.
    private func indent(_ value: TemplateValue, _ arguments: CallArguments) throws -> TemplateValue {
        let indentation: String
        switch arguments.value(0, "width") {
        case let .string(text)?: indentation = text
        case let width?: indentation = String(repeating: " ", count: max(width.integerValue ?? 4, 0))
        case nil: indentation = "    "
        }
        let first = arguments.value(1, "first")?.isTruthy ?? false
        let blank = arguments.value(2, "blank")?.isTruthy ?? false
        // `s += "\n"` in jinja2 fails for anything but a string.
        guard case let .string(text) = value else {
            if case let .undefined(message) = value { throw TemplateRuntimeFailure(message) }
            throw TemplateRuntimeFailure("unsupported operand type(s) for +=: '\(value.typeName)' and 'str'")
        }
        let lines = PythonText.splitLines(text + "\n")
        var result: String
        if blank {
            result = lines.joined(separator: "\n" + indentation)
        } else {
            result = lines.first ?? ""
            if lines.count > 1 {
                result += "\n" + lines.dropFirst().map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n")
            }
        }
        if first { result = indentation + result }
        return .string(result)
    }

    static func escapeHTML(_ text: String) -> String {
        var output = ""
        output.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"": output += "&#34;"
            case "'": output += "&#39;"
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output
    }
}
