import Foundation
import XCTest
@testable import Runtime

/// Fixtures made by Tests/Fixtures/tokenizers/make_tokenizer_fixtures.py with the Python `tokenizers` library.
enum TokenizerFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tokenizers")

    static let families = ["gpt2", "llama3", "qwen2", "llama2", "mistral_metaspace", "smollm", "bert_like", "splits"]

    struct Case {
        let text: String
        let ids: [Int]
        let idsWithoutSpecial: [Int]
        let decoded: String
        let decodedSkippingSpecial: String
    }

    struct Family {
        let name: String
        let tokenizer: Tokenizer
        let cases: [Case]
        let randomDecodes: [(ids: [Int], decoded: String, decodedSkippingSpecial: String)]
        let vocabularySize: Int
        let specialTokenIds: Set<Int>
    }

    /// Fixture JSON is read with the runtime's parser: swift-corelibs' JSONSerialization drops U+FEFF inside strings.
    static func readJSON(_ url: URL) throws -> JSONValue {
        try JSON.parse(try Data(contentsOf: url), maximumDepth: Tokenizer.maximumJSONDepth, duplicateKeys: .keep)
    }

    static func string(_ value: JSONValue?) throws -> String {
        guard case let .string(text)? = value else { throw FixtureError.malformed("expected a string") }
        return text
    }

    static func ints(_ value: JSONValue?) throws -> [Int] {
        guard case let .array(elements)? = value else { throw FixtureError.malformed("expected an array") }
        return try elements.map {
            guard case let .integer(integer) = $0 else { throw FixtureError.malformed("expected an integer") }
            return integer
        }
    }

    static func array(_ value: JSONValue?) throws -> [JSONValue] {
        guard case let .array(elements)? = value else { throw FixtureError.malformed("expected an array") }
        return elements
    }

    enum FixtureError: Error {
        case malformed(String)
    }

    static func texts() throws -> [String] {
        try array(readJSON(directory.appendingPathComponent("texts.json"))).map { try string($0) }
    }

    static func load(_ name: String) throws -> Family {
        let folder = directory.appendingPathComponent(name)
        let tokenizer = try Tokenizer(url: folder.appendingPathComponent("tokenizer.json"))
        let expected = try readJSON(folder.appendingPathComponent("expected.json"))
        let texts = try texts()
        let rawCases = try array(expected["cases"])
        XCTAssertEqual(rawCases.count, texts.count)
        // null in expected.json means "same as the text"; ids without special tokens may be given
        // as the ids with some template tokens sliced off (see the script).
        func idsWithoutSpecial(_ value: JSONValue?, ids: [Int]) throws -> [Int] {
            guard case let .integer(first)? = value?["drop_first"], case let .integer(last)? = value?["drop_last"] else {
                return try ints(value)
            }
            return Array(ids.dropFirst(first).dropLast(last))
        }
        func orNil<T>(_ value: JSONValue?, _ read: (JSONValue?) throws -> T) throws -> T? {
            if case .null? = value { return nil }
            return try read(value)
        }
        let cases = try zip(texts, rawCases).map { text, raw in
            let ids = try ints(raw["ids"])
            return Case(text: text, ids: ids,
                        idsWithoutSpecial: try idsWithoutSpecial(raw["ids_without_special"], ids: ids),
                        decoded: try orNil(raw["decoded"], string) ?? text,
                        decodedSkippingSpecial: try orNil(raw["decoded_skipping_special"], string) ?? text)
        }
        let decodes = try array(expected["random_decodes"]).map { raw in
            (ids: try ints(raw["ids"]), decoded: try string(raw["decoded"]),
             decodedSkippingSpecial: try string(raw["decoded_skipping_special"]))
        }
        guard case let .integer(size)? = expected["vocab_size"] else { throw FixtureError.malformed("vocab_size") }
        return Family(name: name, tokenizer: tokenizer, cases: cases, randomDecodes: decodes,
                      vocabularySize: size, specialTokenIds: Set(try ints(expected["special_token_ids"])))
    }

    /// Strings compared scalar by scalar: Swift's == treats canonically equivalent strings as equal.
    static func scalars(_ text: String) -> [UInt32] {
        text.unicodeScalars.map(\.value)
    }

    static func show(_ text: String) -> String {
        String(text.debugDescription.prefix(160))
    }
}

final class TokenizerParityTests: XCTestCase {
    func testIdsEqualReferenceWithSpecialTokens() throws {
        for name in TokenizerFixtures.families {
            let family = try TokenizerFixtures.load(name)
            for item in family.cases {
                XCTAssertEqual(family.tokenizer.encode(item.text), item.ids,
                               "\(name): \(TokenizerFixtures.show(item.text))")
            }
        }
    }

    func testIdsEqualReferenceWithoutSpecialTokens() throws {
        for name in TokenizerFixtures.families {
            let family = try TokenizerFixtures.load(name)
            for item in family.cases {
                XCTAssertEqual(family.tokenizer.encode(item.text, addSpecialTokens: false), item.idsWithoutSpecial,
                               "\(name): \(TokenizerFixtures.show(item.text))")
            }
        }
    }

    func testDecodeEqualsReference() throws {
        for name in TokenizerFixtures.families {
            let family = try TokenizerFixtures.load(name)
            for item in family.cases {
                let decoded = family.tokenizer.decode(item.ids)
                XCTAssertEqual(TokenizerFixtures.scalars(decoded), TokenizerFixtures.scalars(item.decoded),
                               "\(name): \(TokenizerFixtures.show(decoded)) vs \(TokenizerFixtures.show(item.decoded))")
                let skipping = family.tokenizer.decode(item.ids, skipSpecialTokens: true)
                XCTAssertEqual(TokenizerFixtures.scalars(skipping), TokenizerFixtures.scalars(item.decodedSkippingSpecial),
                               "\(name) skipping: \(TokenizerFixtures.show(skipping)) vs \(TokenizerFixtures.show(item.decodedSkippingSpecial))")
            }
        }
    }

    func testDecodeOfArbitraryIdsEqualsReference() throws {
        for name in TokenizerFixtures.families {
            let family = try TokenizerFixtures.load(name)
            for item in family.randomDecodes {
                let decoded = family.tokenizer.decode(item.ids)
                XCTAssertEqual(TokenizerFixtures.scalars(decoded), TokenizerFixtures.scalars(item.decoded),
                               "\(name) \(item.ids): \(TokenizerFixtures.show(decoded)) vs \(TokenizerFixtures.show(item.decoded))")
                let skipping = family.tokenizer.decode(item.ids, skipSpecialTokens: true)
                XCTAssertEqual(TokenizerFixtures.scalars(skipping), TokenizerFixtures.scalars(item.decodedSkippingSpecial),
                               "\(name) \(item.ids) skipping: \(TokenizerFixtures.show(skipping))")
            }
        }
    }

    func testVocabularySizeAndSpecialTokenIdsEqualReference() throws {
        for name in TokenizerFixtures.families {
            let family = try TokenizerFixtures.load(name)
            XCTAssertEqual(family.tokenizer.vocabularySize, family.vocabularySize, name)
            XCTAssertEqual(family.tokenizer.specialTokenIds, family.specialTokenIds, name)
        }
    }

    /// Except for normalized added tokens: the reference spells those normalized ("new york" for
    /// "New York" under Lowercase) but looks them up by their content.
    func testTokenAndIdLookupsAreInverse() throws {
        for name in TokenizerFixtures.families {
            let tokenizer = try TokenizerFixtures.load(name).tokenizer
            let normalizedAdded = Set(tokenizer.addedVocabulary.tokens.filter(\.normalized).map(\.id))
            for id in 0..<tokenizer.vocabularySize where !normalizedAdded.contains(id) {
                guard let token = tokenizer.token(forId: id) else { continue }
                XCTAssertEqual(tokenizer.id(forToken: token), id, "\(name): \(token)")
            }
        }
    }
}
