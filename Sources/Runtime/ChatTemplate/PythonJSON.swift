/// The `tojson` filter transformers installs: `json.dumps(x, ensure_ascii=False, indent=None,
/// separators=None, sort_keys=False)`, with Python's formatting of numbers and escapes.
struct PythonJSON {
    /// Per-level indentation; nil writes everything on one line.
    var indent: String?
    var itemSeparator: String
    var keySeparator: String
    var sortKeys = false
    var ensureASCII = false

    init(indent: String?, separators: (item: String, key: String)?, sortKeys: Bool, ensureASCII: Bool) {
        self.indent = indent
        // json.dumps drops the space after ',' when indenting, unless separators are given.
        itemSeparator = separators?.item ?? (indent == nil ? ", " : ",")
        keySeparator = separators?.key ?? ": "
        self.sortKeys = sortKeys
        self.ensureASCII = ensureASCII
    }

    struct NotSerializable: Error { let typeName: String }

    func encode(_ value: TemplateValue) throws -> String {
        var output = ""
        try write(value, level: 0, into: &output)
        return output
    }

    private func newline(_ level: Int, into output: inout String) {
        guard let indent else { return }
        output += "\n"
        for _ in 0..<level { output += indent }
    }

    private func write(_ value: TemplateValue, level: Int, into output: inout String) throws {
        switch value {
        case .none: output += "null"
        case let .bool(flag): output += flag ? "true" : "false"
        case let .int(number): output += String(number)
        case let .double(number):
            if number.isNaN { output += "NaN" } else if number.isInfinite { output += number < 0 ? "-Infinity" : "Infinity" } else { output += PythonRepr.float(number) }
        case let .string(text): writeString(text, into: &output)
        case let .list(items), let .tuple(items):
            guard !items.isEmpty else { output += "[]"; return }
            output += "["
            for (position, item) in items.enumerated() {
                if position > 0 { output += itemSeparator }
                newline(level + 1, into: &output)
                try write(item, level: level + 1, into: &output)
            }
            newline(level, into: &output)
            output += "]"
        case let .dictionary(dictionary):
            guard dictionary.count > 0 else { output += "{}"; return }
            var pairs = dictionary.pairs
            if sortKeys { pairs.sort { PythonText.less($0.key, $1.key) } }
            output += "{"
            for (position, pair) in pairs.enumerated() {
                if position > 0 { output += itemSeparator }
                newline(level + 1, into: &output)
                writeString(pair.key, into: &output)
                output += keySeparator
                try write(pair.value, level: level + 1, into: &output)
            }
            newline(level, into: &output)
            output += "}"
        case .undefined, .namespace, .callable, .loop, .iterator:
            throw NotSerializable(typeName: value.typeName)
        }
    }

    private func writeString(_ text: String, into output: inout String) {
        var scalars = String.UnicodeScalarView()
        scalars.append("\"")
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": scalars.append(contentsOf: "\\\"".unicodeScalars)
            case "\\": scalars.append(contentsOf: "\\\\".unicodeScalars)
            case "\n": scalars.append(contentsOf: "\\n".unicodeScalars)
            case "\r": scalars.append(contentsOf: "\\r".unicodeScalars)
            case "\t": scalars.append(contentsOf: "\\t".unicodeScalars)
            case "\u{08}": scalars.append(contentsOf: "\\b".unicodeScalars)
            case "\u{0C}": scalars.append(contentsOf: "\\f".unicodeScalars)
            default:
                if scalar.value < 0x20 || (ensureASCII && scalar.value > 0x7E) {
                    if scalar.value > 0xFFFF {
                        let offset = scalar.value - 0x10000
                        appendEscape(0xD800 + (offset >> 10), into: &scalars)
                        appendEscape(0xDC00 + (offset & 0x3FF), into: &scalars)
                    } else {
                        appendEscape(scalar.value, into: &scalars)
                    }
                } else {
                    scalars.append(scalar)
                }
            }
        }
        scalars.append("\"")
        output += String(scalars)
    }

    private func appendEscape(_ code: UInt32, into scalars: inout String.UnicodeScalarView) {
        let hex = String(code, radix: 16)
        scalars.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).unicodeScalars)
    }
}
