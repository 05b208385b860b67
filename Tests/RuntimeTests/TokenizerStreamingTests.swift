import XCTest
@testable import Runtime

final class TokenizerStreamingTests: XCTestCase {
    /// Deltas arrive one id at a time, never split a character, and add up to the full decode.
    func testDeltasConcatenateToFullDecode() throws {
        for name in TokenizerFixtures.families {
            let family = try TokenizerFixtures.load(name)
            var idLists = family.cases.map(\.ids)
            idLists += family.randomDecodes.map(\.ids)
            for skipSpecialTokens in [false, true] {
                for ids in idLists {
                    var stream = StreamingDecoder(tokenizer: family.tokenizer, skipSpecialTokens: skipSpecialTokens)
                    var deltas: [String] = []
                    for id in ids { deltas.append(stream.append(id)) }
                    deltas.append(stream.finish())
                    let full = family.tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
                    XCTAssertEqual(TokenizerFixtures.scalars(deltas.joined()), TokenizerFixtures.scalars(full),
                                   "\(name) \(ids.prefix(12))")
                    for delta in deltas {
                        // A delta is a Swift String, so valid UTF-8; it must also survive a UTF-8 round trip intact.
                        XCTAssertEqual(Array(String(decoding: Array(delta.utf8), as: UTF8.self).unicodeScalars),
                                       Array(delta.unicodeScalars))
                    }
                }
            }
        }
    }

    /// A character spelled by byte-fallback tokens appears once a token that is not a byte follows:
    /// until then a further byte could make the run invalid, which changes how every byte of it decodes.
    func testByteFallbackRunIsHeldUntilItEnds() throws {
        let tokenizer = try TokenizerFixtures.load("llama2").tokenizer
        let byteIds = try Array("😀".utf8).map { try XCTUnwrap(tokenizer.id(forToken: BPEModel.byteToken($0))) }
        let wordIds = tokenizer.encode(" ok", addSpecialTokens: false)
        var stream = StreamingDecoder(tokenizer: tokenizer)
        XCTAssertEqual(byteIds.map { stream.append($0) }, ["", "", "", ""])
        let deltas = wordIds.map { stream.append($0) }
        XCTAssertEqual(TokenizerFixtures.scalars(deltas.joined() + stream.finish()),
                       TokenizerFixtures.scalars(tokenizer.decode(byteIds + wordIds)))
        XCTAssertEqual(deltas.first?.unicodeScalars.first, "😀")
    }

    /// A byte-level token that ends inside a character yields nothing until the character is complete.
    func testIncompleteByteLevelCharacterIsHeldBack() throws {
        let tokenizer = try TokenizerFixtures.load("gpt2").tokenizer
        let bytes = Array("😀".utf8)
        let ids = try bytes.map { try XCTUnwrap(tokenizer.id(forToken: String(ByteLevelAlphabet.scalarForByte[Int($0)]))) }
        var stream = StreamingDecoder(tokenizer: tokenizer)
        XCTAssertEqual(ids.map { stream.append($0) }, ["", "", "", "😀"])
        XCTAssertEqual(stream.finish(), "")
    }
}
