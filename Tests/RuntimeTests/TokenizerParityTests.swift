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

    static func texts() throws -> [String] {
        let data = try Data(contentsOf: directory.appendingPathComponent("texts.json"))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String])
    }

    static func load(_ name: String) throws -> Family {
        let folder = directory.appendingPathComponent(name)
        let tokenizer = try Tokenizer(url: folder.appendingPathComponent("tokenizer.json"))
        let data = try Data(contentsOf: folder.appendingPathComponent("expected.json"))
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let texts = try texts()
        let rawCases = try XCTUnwrap(expected["cases"] as? [[String: Any]])
        XCTAssertEqual(rawCases.count, texts.count)
        // null in expected.json means "same as ids" or "same as the text" (see the script).
        let cases = try zip(texts, rawCases).map { text, raw in
            let ids = try XCTUnwrap(raw["ids"] as? [Int])
            return Case(text: text, ids: ids,
                        idsWithoutSpecial: raw["ids_without_special"] as? [Int] ?? ids,
                        decoded: raw["decoded"] as? String ?? text,
                        decodedSkippingSpecial: raw["decoded_skipping_special"] as? String ?? text)
        }
        let rawDecodes = try XCTUnwrap(expected["random_decodes"] as? [[String: Any]])
        let decodes = try rawDecodes.map { raw in
            (ids: try XCTUnwrap(raw["ids"] as? [Int]), decoded: try XCTUnwrap(raw["decoded"] as? String),
             decodedSkippingSpecial: try XCTUnwrap(raw["decoded_skipping_special"] as? String))
        }
        return Family(name: name, tokenizer: tokenizer, cases: cases, randomDecodes: decodes,
                      vocabularySize: try XCTUnwrap(expected["vocab_size"] as? Int),
                      specialTokenIds: Set(try XCTUnwrap(expected["special_token_ids"] as? [Int])))
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

    func testTokenAndIdLookupsAreInverse() throws {
        for name in TokenizerFixtures.families {
            let tokenizer = try TokenizerFixtures.load(name).tokenizer
            for id in 0..<tokenizer.vocabularySize {
                guard let token = tokenizer.token(forId: id) else { continue }
                XCTAssertEqual(tokenizer.id(forToken: token), id, "\(name): \(token)")
            }
        }
    }
}
