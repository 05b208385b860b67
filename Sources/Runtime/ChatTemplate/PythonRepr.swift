/// Python's number and string `repr` rules.
enum PythonRepr {
    /// `float.__repr__`: the shortest digits that round-trip, positional when the decimal exponent
    /// is in [-4, 16), scientific otherwise, and always with a fractional part or an exponent.
    static func float(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        let (negative, digits, pointPosition) = shortestDigits(value)
        let sign = negative ? "-" : ""
        if pointPosition <= -4 || pointPosition > 16 {
            var mantissa = String(digits.first!)
            if digits.count > 1 { mantissa += "." + digits.dropFirst() }
            let exponent = pointPosition - 1
            let exponentDigits = String(abs(exponent))
            return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (exponentDigits.count < 2 ? "0" : "") + exponentDigits
        }
        if pointPosition <= 0 { return sign + "0." + String(repeating: "0", count: -pointPosition) + digits }
        if pointPosition >= digits.count { return sign + digits + String(repeating: "0", count: pointPosition - digits.count) + ".0" }
        let split = digits.index(digits.startIndex, offsetBy: pointPosition)
        return sign + digits[..<split] + "." + digits[split...]
    }

    /// Digits d1d2...dn and position p with |value| = 0.d1d2...dn × 10^p, from Swift's shortest round-trip description.
    private static func shortestDigits(_ value: Double) -> (negative: Bool, digits: String, pointPosition: Int) {
        var text = Substring(value.description)
        let negative = text.hasPrefix("-")
        if negative { text = text.dropFirst() }
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = text[..<e]
        }
        var integerPart = text
        var fractionPart: Substring = ""
        if let dot = text.firstIndex(of: ".") {
            integerPart = text[..<dot]
            fractionPart = text[text.index(after: dot)...]
        }
        var digits = String(integerPart) + fractionPart
        var pointPosition = integerPart.count + exponent
        while digits.hasPrefix("0"), digits.count > 1 {
            digits.removeFirst()
            pointPosition -= 1
        }
        while digits.hasSuffix("0"), digits.count > 1 { digits.removeLast() }
        return (negative, digits, pointPosition)
    }

    /// `str.__repr__`: single quotes unless the text has a single quote and no double quote;
    /// non-printable characters escaped as \xhh, \uhhhh or \Uhhhhhhhh.
    static func string(_ text: String) -> String {
        let quote: Unicode.Scalar = (text.unicodeScalars.contains("'") && !text.unicodeScalars.contains("\"")) ? "\"" : "'"
        var output = String.UnicodeScalarView()
        output.append(quote)
        for scalar in text.unicodeScalars {
            switch scalar {
            case quote, "\\":
                output.append("\\")
                output.append(scalar)
            case "\t": output.append(contentsOf: "\\t".unicodeScalars)
            case "\n": output.append(contentsOf: "\\n".unicodeScalars)
            case "\r": output.append(contentsOf: "\\r".unicodeScalars)
            default:
                if isPrintable(scalar) {
                    output.append(scalar)
                } else {
                    let hex = String(scalar.value, radix: 16)
                    let escape = scalar.value < 0x100 ? "\\x" + pad(hex, 2) : scalar.value < 0x10000 ? "\\u" + pad(hex, 4) : "\\U" + pad(hex, 8)
                    output.append(contentsOf: escape.unicodeScalars)
                }
            }
        }
        output.append(quote)
        return String(output)
    }

    private static func pad(_ hex: String, _ width: Int) -> String { String(repeating: "0", count: max(0, width - hex.count)) + hex }

    /// `str.isprintable()`: not in categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs (except the space).
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " { return true }
        if scalar.value < 0x7F { return scalar.value >= 0x20 }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator: return false
        default: return true
        }
    }
}
