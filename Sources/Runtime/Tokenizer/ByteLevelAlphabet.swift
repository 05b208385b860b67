/// GPT-2's reversible map from bytes to printable code points (`bytes_to_unicode` in the GPT-2
/// encoder and tokenizers' byte_level.rs): printable Latin-1 bytes map to themselves, the rest to U+0100 onwards.
enum ByteLevelAlphabet {
    static let scalarForByte: [Unicode.Scalar] = {
        var printable: [Int] = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var codes = printable
        var next = 0
        for byte in 0..<256 where !printable.contains(byte) {
            printable.append(byte)
            codes.append(256 + next)
            next += 1
        }
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        for (byte, code) in zip(printable, codes) {
            table[byte] = Unicode.Scalar(UInt32(code)) ?? " "
        }
        return table
    }()

    static let byteForScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in scalarForByte.enumerated() { map[scalar.value] = UInt8(byte) }
        return map
    }()

    /// The text's UTF-8 bytes spelled in the byte-level alphabet.
    static func encode(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in text.utf8 { scalars.append(scalarForByte[Int(byte)]) }
        return String(scalars)
    }

    /// The bytes a byte-level token spells, or nil when it holds a character outside the alphabet.
    static func bytes(of token: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        for scalar in token.unicodeScalars {
            guard let byte = byteForScalar[scalar.value] else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// GPT-2's pre-tokenization pattern (ByteLevel with `use_regex`).
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
}
