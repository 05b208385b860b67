/// One entry of tokenizer.json's `added_tokens`.
struct AddedToken {
    let id: Int
    let content: String
    let singleWord: Bool
    let lstrip: Bool
    let rstrip: Bool
    let normalized: Bool
    let special: Bool

    init(field: JSONField) throws {
        id = try field.required("id").int()
        content = try field.requiredString("content")
        singleWord = try field.bool("single_word", default: false)
        lstrip = try field.bool("lstrip", default: false)
        rstrip = try field.bool("rstrip", default: false)
        special = try field.bool("special", default: false)
        normalized = try field.bool("normalized", default: !special)
        guard !content.isEmpty else {
            throw TokenizerError.invalidValue(file: field.file, field: field.fieldPath("content"), reason: "empty token")
        }
    }
}

/// A stretch of input after added tokens are cut out: either an added token's id or text for the pipeline.
enum AddedVocabularySegment {
    case token(Int)
    case text(PreToken)
}

/// Added tokens are matched before the rest of the pipeline (tokenizers' `AddedVocabulary`):
/// tokens with `normalized: false` on the raw text, then the others on each normalized remainder,
/// leftmost-longest, honouring `single_word`, `lstrip` and `rstrip`.
struct AddedVocabulary {
    /// Matches a set of contents leftmost-longest (the reference uses Aho-Corasick, LeftmostLongest).
    struct Matcher {
        /// Candidates by first byte, longest first.
        private var candidates: [[(bytes: [UInt8], token: Int)]] = Array(repeating: [], count: 256)
        var isEmpty = true

        init(_ patterns: [(bytes: [UInt8], token: Int)]) {
            for pattern in patterns where !pattern.bytes.isEmpty {
                candidates[Int(pattern.bytes[0])].append(pattern)
                isEmpty = false
            }
            for index in candidates.indices {
                candidates[index].sort { $0.bytes.count > $1.bytes.count }
            }
        }

        /// The leftmost-longest match starting at or after `from`.
        func firstMatch(in bytes: [UInt8], from: Int) -> (start: Int, end: Int, token: Int)? {
            var start = from
            while start < bytes.count {
                for candidate in candidates[Int(bytes[start])] where start + candidate.bytes.count <= bytes.count {
                    if bytes[start..<(start + candidate.bytes.count)].elementsEqual(candidate.bytes) {
                        return (start, start + candidate.bytes.count, candidate.token)
                    }
                }
                start += 1
            }
            return nil
        }
    }

    let tokens: [AddedToken]
    let idForContent: [[UInt8]: Int]
    let contentForId: [Int: String]
    let specialIds: Set<Int>
    private let rawMatcher: Matcher
    private let normalizedMatcher: Matcher
    private let tokenById: [Int: AddedToken]

    init(tokens: [AddedToken], normalizer: Normalizer?) {
        self.tokens = tokens
        var idForContent: [[UInt8]: Int] = [:]
        var contentForId: [Int: String] = [:]
        var tokenById: [Int: AddedToken] = [:]
        var raw: [(bytes: [UInt8], token: Int)] = []
        var normalized: [(bytes: [UInt8], token: Int)] = []
        for token in tokens {
            idForContent[Array(token.content.utf8)] = token.id
            contentForId[token.id] = token.content
            tokenById[token.id] = token
            if token.normalized {
                let content = normalizer?.normalize(token.content) ?? token.content
                normalized.append((Array(content.utf8), token.id))
                // The reference spells (and decodes) a normalized added token in its normalized form.
                contentForId[token.id] = content
            } else {
                raw.append((Array(token.content.utf8), token.id))
            }
        }
        self.idForContent = idForContent
        self.contentForId = contentForId
        self.tokenById = tokenById
        specialIds = Set(tokens.filter(\.special).map(\.id))
        rawMatcher = Matcher(raw)
        normalizedMatcher = Matcher(normalized)
    }

    /// The input cut at added tokens, text stretches normalized (tokenizers' `extract_and_normalize`).
    func extractAndNormalize(_ text: String, normalizer: Normalizer?) -> [AddedVocabularySegment] {
        var segments: [AddedVocabularySegment] = []
        for first in split(text, matcher: rawMatcher, startsText: true) {
            guard case let .text(piece) = first else { segments.append(first); continue }
            let normalized = normalizer?.normalize(piece.text) ?? piece.text
            segments += split(normalized, matcher: normalizedMatcher, startsText: piece.startsText)
        }
        return segments
    }

    /// tokenizers' `find_matches` plus dropping empty text pieces.
    private func split(_ text: String, matcher: Matcher, startsText: Bool) -> [AddedVocabularySegment] {
        let bytes = Array(text.utf8)
        if matcher.isEmpty {
            return bytes.isEmpty ? [] : [.text(PreToken(text: text, startsText: startsText))]
        }
        var segments: [AddedVocabularySegment] = []
        var consumed = 0
        var searchFrom = 0
        func appendText(_ start: Int, _ end: Int) {
            guard start < end else { return }
            segments.append(.text(PreToken(text: String(decoding: bytes[start..<end], as: UTF8.self),
                                           startsText: startsText && start == 0)))
        }
        while let match = matcher.firstMatch(in: bytes, from: searchFrom) {
            searchFrom = match.end
            guard let token = tokenById[match.token] else { continue }
            var start = match.start
            var end = match.end
            if token.singleWord {
                let wordBefore = start > 0 && Self.lastScalar(bytes, before: start).map(UnicodeClasses.isWordCharacter) == true
                let wordAfter = end < bytes.count && Self.firstScalar(bytes, from: end).map(UnicodeClasses.isWordCharacter) == true
                if wordBefore || wordAfter { continue }
            }
            if token.lstrip {
                var newStart = start
                while newStart > 0, case let (scalar, length)? = Self.lastScalarWithLength(bytes, before: newStart),
                      UnicodeClasses.isWhitespace(scalar) {
                    newStart -= length
                }
                start = max(newStart, consumed)
            }
            if token.rstrip {
                while end < bytes.count, let scalar = Self.firstScalar(bytes, from: end), UnicodeClasses.isWhitespace(scalar) {
                    end += String(scalar).utf8.count
                }
            }
            appendText(consumed, start)
            segments.append(.token(token.id))
            consumed = end
            searchFrom = end
        }
        appendText(consumed, bytes.count)
        return segments
    }

    private static func firstScalar(_ bytes: [UInt8], from start: Int) -> Unicode.Scalar? {
        var end = start + 1
        while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self).unicodeScalars.first
    }

    private static func lastScalar(_ bytes: [UInt8], before end: Int) -> Unicode.Scalar? {
        lastScalarWithLength(bytes, before: end)?.0
    }

    private static func lastScalarWithLength(_ bytes: [UInt8], before end: Int) -> (Unicode.Scalar, Int)? {
        guard end > 0 else { return nil }
        var start = end - 1
        while start > 0, bytes[start] & 0xC0 == 0x80 { start -= 1 }
        guard let scalar = String(decoding: bytes[start..<end], as: UTF8.self).unicodeScalars.first else { return nil }
        return (scalar, end - start)
    }
}
