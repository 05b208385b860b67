/// tokenizer.json's `decoder`: turns a list of token strings back into text. Each step maps a
/// list of strings to a list of strings (tokenizers' `decode_chain`); the results are concatenated.
indirect enum Decoder {
    case byteLevel
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    case replace(pattern: SplitPattern, content: String)
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case bpeSuffix(String)
    case sequence([Decoder])

    init(field: JSONField) throws {
        let type = try field.typeName()
        switch type {
        case "ByteLevel":
            self = .byteLevel
        case "Metaspace":
            let replacement = try field.optionalString("replacement") ?? "▁"
            guard replacement.unicodeScalars.count == 1, let scalar = replacement.unicodeScalars.first else {
                throw TokenizerError.invalidValue(file: field.file, field: field.fieldPath("replacement"),
                                                  reason: "must be one character")
            }
            self = .metaspace(replacement: scalar, prependScheme: try PreTokenizer.prependScheme(field))
        case "Replace":
            self = .replace(pattern: try SplitPattern(field: try field.required("pattern")),
                            content: try field.requiredString("content"))
        case "ByteFallback":
            self = .byteFallback
        case "Fuse":
            self = .fuse
        case "Strip":
            let content = try field.requiredString("content")
            guard content.unicodeScalars.count == 1, let scalar = content.unicodeScalars.first else {
                throw TokenizerError.invalidValue(file: field.file, field: field.fieldPath("content"),
                                                  reason: "must be one character")
            }
            self = .strip(content: scalar, start: try field.int("start", default: 0), stop: try field.int("stop", default: 0))
        case "BPEDecoder":
            self = .bpeSuffix(try field.optionalString("suffix") ?? "</w>")
        case "Sequence":
            self = .sequence(try field.required("decoders").array().map(Decoder.init(field:)))
        default:
            throw field.unsupported(type)
        }
    }

    func decode(_ tokens: [String]) -> String {
        decodeChain(tokens).joined()
    }

    func decodeChain(_ tokens: [String]) -> [String] {
        switch self {
        case .byteLevel:
            // A token with a character outside the byte alphabet contributes its own UTF-8 bytes.
            var bytes: [UInt8] = []
            for token in tokens { bytes += ByteLevelAlphabet.bytes(of: token) ?? Array(token.utf8) }
            return [String(decoding: bytes, as: UTF8.self)]
        case let .metaspace(replacement, prependScheme):
            return tokens.enumerated().map { index, token in
                var scalars = String.UnicodeScalarView()
                for scalar in token.unicodeScalars {
                    if scalar == replacement {
                        if index == 0 && prependScheme != .never { continue }
                        scalars.append(" ")
                    } else {
                        scalars.append(scalar)
                    }
                }
                return String(scalars)
            }
        case let .replace(pattern, content):
            return tokens.map { pattern.replace(in: $0, with: content) }
        case .byteFallback:
            var output: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let text = String(validating: pending, as: UTF8.self) {
                    output.append(text)
                } else {
                    // The reference emits one U+FFFD per byte of an invalid run.
                    output += Array(repeating: "\u{FFFD}", count: pending.count)
                }
                pending.removeAll()
            }
            for token in tokens {
                if let byte = Decoder.fallbackByte(token) {
                    pending.append(byte)
                } else {
                    flush()
                    output.append(token)
                }
            }
            flush()
            return output
        case .fuse:
            return [tokens.joined()]
        case let .strip(content, start, stop):
            return tokens.map { token in
                let scalars = Array(token.unicodeScalars)
                var lower = 0
                while lower < min(start, scalars.count), scalars[lower] == content { lower += 1 }
                var upper = scalars.count
                var removed = 0
                while removed < stop, upper > lower, scalars[upper - 1] == content { upper -= 1; removed += 1 }
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars[lower..<upper])
                return String(view)
            }
        case let .bpeSuffix(suffix):
            let suffixPattern = SplitPattern.literal(Array(suffix.utf8))
            return tokens.enumerated().map { index, token in
                suffixPattern.replace(in: token, with: index == tokens.count - 1 ? "" : " ")
            }
        case let .sequence(decoders):
            return decoders.reduce(tokens) { $1.decodeChain($0) }
        }
    }

    /// The byte of a `<0xAB>` token.
    static func fallbackByte(_ token: String) -> UInt8? {
        let bytes = Array(token.utf8)
        guard bytes.count == 6, bytes[0] == UInt8(ascii: "<"), bytes[1] == UInt8(ascii: "0"),
              bytes[2] == UInt8(ascii: "x"), bytes[5] == UInt8(ascii: ">") else { return nil }
        return UInt8(String(decoding: bytes[3..<5], as: UTF8.self), radix: 16)
    }
}
