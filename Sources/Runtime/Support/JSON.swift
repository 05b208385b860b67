import Foundation

/// The one JSON parser of the runtime (RFC 8259, strict): safetensors headers and indexes, tokenizer.json,
/// tokenizer_config.json.
///
/// Written by hand rather than with Foundation: `JSONDecoder` took about 100 µs per safetensors header entry
/// while probing types, and swift-corelibs' `JSONSerialization` drops U+FEFF inside strings and merges
/// canonically-equivalent keys (see `JSONValue`).
enum JSON {
    /// What to do with a key that appears twice in one object.
    enum DuplicateKeys {
        /// Refuse the document. Keys count as the same when they are equal Swift Strings (canonically
        /// equivalent), because a reader that rejects duplicates goes on to index members by String.
        case reject
        /// Keep every member in file order; `JSONValue`'s subscript sees the first.
        case keep
    }

    /// Malformed JSON: what was wrong and where, as a person opening the file needs it.
    struct SyntaxError: Error, Equatable, CustomStringConvertible {
        let reason: String
        /// 1-based.
        let line: Int
        /// 0-based offset into the parsed bytes.
        let byte: Int

        var description: String { "\(reason) at line \(line) (byte \(byte))" }
    }

    /// Parses `bytes` as one JSON value surrounded by optional whitespace. Containers nested deeper than
    /// `maximumDepth` are refused, so that hostile input cannot exhaust the stack.
    static func parse(
        _ bytes: UnsafeRawBufferPointer, maximumDepth: Int, duplicateKeys: DuplicateKeys
    ) throws -> JSONValue {
        var parser = Parser(bytes: bytes, maximumDepth: maximumDepth, duplicateKeys: duplicateKeys)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.failure("unexpected data after the value") }
        return value
    }

    static func parse(_ data: Data, maximumDepth: Int, duplicateKeys: DuplicateKeys) throws -> JSONValue {
        try data.withUnsafeBytes { try parse($0, maximumDepth: maximumDepth, duplicateKeys: duplicateKeys) }
    }
}

/// Recursive descent over UTF-8 bytes, one function per grammar rule of RFC 8259.
private struct Parser {
    let bytes: UnsafeRawBufferPointer
    let maximumDepth: Int
    let duplicateKeys: JSON.DuplicateKeys
    var position = 0

    init(bytes: UnsafeRawBufferPointer, maximumDepth: Int, duplicateKeys: JSON.DuplicateKeys) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
        self.duplicateKeys = duplicateKeys
    }

    func failure(_ reason: String, at byte: Int? = nil) -> JSON.SyntaxError {
        let byte = byte ?? position
        // Lines are counted only here, on failure, so that parsing itself never pays for them.
        var line = 1
        for index in 0..<min(byte, bytes.count) where bytes[index] == UInt8(ascii: "\n") { line += 1 }
        return JSON.SyntaxError(reason: reason, line: line, byte: byte)
    }

    var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    mutating func expect(_ byte: UInt8) throws {
        guard current == byte else { throw failure("expected '\(Character(UnicodeScalar(byte)))'") }
        position += 1
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < maximumDepth else { throw failure("nesting deeper than \(maximumDepth)") }
        guard let byte = current else { throw failure("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw failure("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws {
        let utf8 = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for expected in utf8 {
            guard current == expected else { throw failure("invalid literal") }
            position += 1
        }
    }

    mutating func object(depth: Int) throws -> JSONValue {
        position += 1  // {
        var members: [(key: String, value: JSONValue)] = []
        // Only built for objects too big for a linear scan to stay cheap.
        var seenKeys: Set<String>?
        skipWhitespace()
        if current == UInt8(ascii: "}") { position += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw failure("expected a string key") }
            let keyPosition = position
            let key = try string()
            if duplicateKeys == .reject, Self.isDuplicate(key, in: members, seenKeys: &seenKeys) {
                throw failure("duplicate key \"\(key)\"", at: keyPosition)
            }
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            members.append((key, try value(depth: depth + 1)))
            skipWhitespace()
            if current == UInt8(ascii: ",") { position += 1; continue }
            try expect(UInt8(ascii: "}"))
            return .object(members)
        }
    }

    /// Whether `key` equals (as a Swift String) a key already in `members`; records it otherwise.
    static func isDuplicate(
        _ key: String, in members: [(key: String, value: JSONValue)], seenKeys: inout Set<String>?
    ) -> Bool {
        let linearScanLimit = 16
        if seenKeys == nil {
            if members.count < linearScanLimit { return members.contains { $0.key == key } }
            seenKeys = Set(members.map(\.key))
        }
        return seenKeys?.insert(key).inserted == false
    }

    mutating func array(depth: Int) throws -> JSONValue {
        position += 1  // [
        var values: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { position += 1; return .array(values) }
        while true {
            skipWhitespace()
            values.append(try value(depth: depth + 1))
            skipWhitespace()
            if current == UInt8(ascii: ",") { position += 1; continue }
            try expect(UInt8(ascii: "]"))
            return .array(values)
        }
    }

    mutating func string() throws -> String {
        position += 1  // opening quote
        let start = position
        // Fast path: most strings (tensor names, vocabulary tokens) have no escapes.
        var end = position
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 {
            end += 1
        }
        if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
            guard let text = Self.validated(UnsafeRawBufferPointer(rebasing: bytes[start..<end])) else {
                throw failure("invalid UTF-8 in string", at: start)
            }
            position = end + 1
            return text
        }
        var utf8: [UInt8] = []
        var runStart = start
        position = end
        while true {
            guard let byte = current else { throw failure("unterminated string") }
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                utf8.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<position - 1]))
                guard let text = utf8.withUnsafeBytes(Self.validated) else {
                    throw failure("invalid UTF-8 in string", at: start)
                }
                return text
            case UInt8(ascii: "\\"):
                utf8.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<position - 1]))
                try escape(into: &utf8)
                runStart = position
            case 0..<0x20:
                throw failure("control character in string")
            default:
                break
            }
        }
    }

    /// The text of `utf8`, or nil when it is not valid UTF-8.
    static func validated(_ utf8: UnsafeRawBufferPointer) -> String? {
        String(validating: utf8.assumingMemoryBound(to: UInt8.self), as: UTF8.self)
    }

    mutating func escape(into utf8: inout [UInt8]) throws {
        guard let byte = current else { throw failure("unterminated escape") }
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(byte)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hexQuad()
            // A UTF-16 surrogate pair encodes one scalar above U+FFFF (RFC 8259 §7).
            if (0xD800..<0xDC00).contains(scalar) {
                guard current == UInt8(ascii: "\\") else { throw failure("unpaired surrogate") }
                position += 1
                try expect(UInt8(ascii: "u"))
                let low = try hexQuad()
                guard (0xDC00..<0xE000).contains(low) else { throw failure("unpaired surrogate") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw failure("unpaired surrogate") }
            UTF8.encode(unicode) { utf8.append($0) }
        default:
            throw failure("invalid escape")
        }
    }

    mutating func hexQuad() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw failure("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current, let digit = Self.hexDigit(byte) else { throw failure("invalid \\u escape") }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    static func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; integers that fit `Int` stay exact.
    mutating func number() throws -> JSONValue {
        let start = position
        let isNegative = current == UInt8(ascii: "-")
        if isNegative { position += 1 }
        guard let first = current, Self.isDigit(first) else { throw failure("invalid number") }
        // The magnitude is accumulated while scanning (vocabulary ids are most of a tokenizer.json's numbers).
        var magnitude: UInt64 = 0
        var overflowed = false
        if first == UInt8(ascii: "0") {
            position += 1
        } else {
            while let byte = current, Self.isDigit(byte) {
                let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
                overflowed = overflowed || overflow1 || overflow2
                magnitude = sum
                position += 1
            }
        }
        var isInteger = true
        if current == UInt8(ascii: ".") {
            isInteger = false
            position += 1
            guard let digit = current, Self.isDigit(digit) else { throw failure("invalid number") }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard let digit = current, Self.isDigit(digit) else { throw failure("invalid number") }
            skipDigits()
        }
        if isInteger, !overflowed {
            if !isNegative, magnitude <= UInt64(Int.max) { return .integer(Int(magnitude)) }
            if isNegative, magnitude <= UInt64(Int.max) + 1 { return .integer(0 &- Int(truncatingIfNeeded: magnitude)) }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let number = Double(text) else { throw failure("invalid number") }
        return .number(number)
    }

    mutating func skipDigits() {
        while let byte = current, Self.isDigit(byte) { position += 1 }
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}
