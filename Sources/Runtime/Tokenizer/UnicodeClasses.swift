/// Character classes with the meaning the Rust `tokenizers` crate gives them (Rust `char` methods
/// and the `unicode_categories` crate), so splits agree with the reference on every code point.
enum UnicodeClasses {
    /// Rust `char::is_whitespace`: the Unicode White_Space property.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace
    }

    /// Rust `char::is_numeric`: general categories Nd, Nl, No.
    static func isNumeric(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// Rust regex `\w` (Unicode): Alphabetic, marks, decimal digits, connector punctuation, joiners.
    /// Added tokens with `single_word` test their neighbours with it.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.properties.isAlphabetic || scalar.properties.isJoinControl { return true }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    /// tokenizers' `is_punc`: ASCII punctuation (which includes symbols like `$+<=>^|~`) or any P* category.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII {
            let value = scalar.value
            return (0x21...0x2F).contains(value) || (0x3A...0x40).contains(value)
                || (0x5B...0x60).contains(value) || (0x7B...0x7E).contains(value)
        }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }
}
