import Foundation
import XCTest
@testable import Runtime

/// The model fixtures (Tests/Fixtures/models, made by Tests/Fixtures/make_fixtures.py) carry their own
/// tokenizer.json and what transformers made of some texts and chat renderings. Skipped where absent.
final class TokenizerModelFixtureTests: XCTestCase {
    private static let modelsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models")

    private func modelDirectories() throws -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Self.modelsDirectory.path)) ?? []
        let directories = names.sorted().map { Self.modelsDirectory.appendingPathComponent($0) }.filter {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("tokenizer.json").path)
                && FileManager.default.fileExists(atPath: $0.appendingPathComponent("expected.json").path)
        }
        if directories.isEmpty { XCTFail("no model fixtures under \(Self.modelsDirectory.path)") }
        return directories
    }

    func testIdsAndDecodesEqualReference() throws {
        for directory in try modelDirectories() {
            let name = directory.lastPathComponent
            let tokenizer = try Tokenizer(url: directory.appendingPathComponent("tokenizer.json"))
            let expected = try TokenizerFixtures.readJSON(directory.appendingPathComponent("expected.json"))
            guard case let .array(records)? = expected["tokenizer"] else { continue }
            for record in records {
                let text = try TokenizerFixtures.string(record["text"])
                let ids = try TokenizerFixtures.ints(record["ids"])
                let idsNoSpecial = try TokenizerFixtures.ints(record["ids_no_special"])
                XCTAssertEqual(tokenizer.encode(text), ids, "\(name): \(TokenizerFixtures.show(text))")
                XCTAssertEqual(tokenizer.encode(text, addSpecialTokens: false), idsNoSpecial,
                               "\(name): \(TokenizerFixtures.show(text))")
                XCTAssertEqual(TokenizerFixtures.scalars(tokenizer.decode(idsNoSpecial)),
                               TokenizerFixtures.scalars(try TokenizerFixtures.string(record["decoded"])), name)
                XCTAssertEqual(TokenizerFixtures.scalars(tokenizer.decode(ids, skipSpecialTokens: true)),
                               TokenizerFixtures.scalars(try TokenizerFixtures.string(record["decoded_skip_special"])), name)
            }
        }
    }

    /// Chat renderings are tokenized without adding special tokens (as apply_chat_template does).
    func testRenderedChatIdsEqualReference() throws {
        for directory in try modelDirectories() {
            let name = directory.lastPathComponent
            let tokenizer = try Tokenizer(url: directory.appendingPathComponent("tokenizer.json"))
            let expected = try TokenizerFixtures.readJSON(directory.appendingPathComponent("expected.json"))
            var records: [JSONValue] = []
            if case let .array(chat)? = expected["chat"] { records += chat }
            if case let .array(llama2)? = expected["chat_llama2"]?["records"] { records += llama2 }
            for record in records {
                let rendered = try TokenizerFixtures.string(record["rendered"])
                XCTAssertEqual(tokenizer.encode(rendered, addSpecialTokens: false), try TokenizerFixtures.ints(record["ids"]),
                               "\(name): \(TokenizerFixtures.show(rendered))")
            }
        }
    }
}
