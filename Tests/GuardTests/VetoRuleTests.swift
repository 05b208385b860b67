import Foundation
import XCTest

@testable import Guard
@testable import Runtime

/// The veto rule (a guard's decoding rule that ends the answer): its arithmetic, its judge's holding of suspect
/// tokens, and generation under it against a reference computed by hand from two caches.
final class VetoRuleTests: XCTestCase {
    /// The first fixture model with a PEFT adapter: its model, the last logits prompt and the adapter.
    func adapterFixture() throws -> (languageModel: LanguageModel, prompt: [Int], adapter: PEFTAdapter) {
        let directory = GuardFixtures.model("llama-metaspace-oldkeys")
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("expected.json"))) as? [String: Any])
        let logits = try XCTUnwrap(expected["logits"] as? [[String: Any]])
        let prompt = try XCTUnwrap(logits.last?["prompt_ids"] as? [Int])
        return (try LanguageModel.load(directory: directory), prompt, try PEFTAdapter.load(from: directory.appendingPathComponent("lora")))
    }

    func assertClose(_ actual: [Float], _ expected: [Float], _ message: String, tolerance: Float,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, message, file: file, line: line)
        let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, tolerance, "\(message): max |Δ| = \(worst)", file: file, line: line)
    }

    func testTokenVetoComparesThePatchedAndOriginalProbabilitiesOfTheOriginalChoice() throws {
        // p(0) = e²/(e²+e+1) ≈ 0.665, q(0) = 1/(1+e+e²) ≈ 0.090: q/p = e⁻² ≈ 0.135.
        let original: [Float] = [2, 1, 0], patched: [Float] = [0, 1, 2]
        let veto = try TokenVeto(ratio: 0.2)
        XCTAssertEqual(veto.logRatio(of: 0, original: original, patched: patched), -2, accuracy: 1e-5)
        XCTAssertEqual(veto.logRatio(of: 1, original: original, patched: patched), 0, accuracy: 1e-6, "equal probabilities")
        XCTAssertEqual(TokenVeto.logProbability(of: 0, in: original), 2 - log(expf(2) + expf(1) + 1), accuracy: 1e-6)
        XCTAssertEqual(veto.window, 1)
        XCTAssertEqual(veto.evidence, 0.2, "one token's evidence is its ratio")
        XCTAssertEqual(veto.description, "veto at ratio 0.2")
        XCTAssertEqual(try TokenVeto(ratio: 0.2, evidence: 0.1).description, "veto at ratio 0.2, evidence 0.1 over 1 token")
        XCTAssertEqual(try TokenVeto(ratio: 0.05, window: 8, evidence: 1e-8).description, "veto at ratio 0.05, evidence 1e-08 over 8 tokens")
        for bad in [0, -0.5, 1.5, Double.nan] {
            XCTAssertThrowsError(try TokenVeto(ratio: bad, fieldPrefix: "teleguard_veto_")) { error in
                XCTAssertEqual(error as? GenerationError, .invalidParameter(field: "teleguard_veto_ratio", detail: "must be in (0, 1], found \(bad)"))
            }
        }
        for bad in [0, -1, TokenVeto.maxWindow + 1] {
            XCTAssertThrowsError(try TokenVeto(ratio: 0.1, window: bad)) { error in
                XCTAssertEqual(error as? GenerationError, .invalidParameter(field: "veto_window", detail: "must be in 1...64, found \(bad)"))
            }
        }
        for bad in [0, 0.5, -1e-3, Double.infinity] {
            XCTAssertThrowsError(try TokenVeto(ratio: 0.1, window: 4, evidence: bad)) { error in
                XCTAssertEqual(error as? GenerationError, .invalidParameter(field: "veto_evidence", detail: "must be in (0, veto_ratio = 0.1], found \(bad)"))
            }
        }
    }

    /// The judge releases a token once no window can end the answer before it; a suspect token is held until its
    /// window decides, and the answer ends before it when the window's evidence (log ratios clipped at 0, summed)
    /// falls below log evidence.
    func testVetoJudgeHoldsSuspectTokensUntilTheirWindowDecides() throws {
        let suspect = Float(log(0.1)) - 0.5, fine: Float = -0.1, harmless: Float = 0.3
        var judge = VetoJudge(try TokenVeto(ratio: 0.1, window: 3, evidence: 1e-4))
        XCTAssertTrue(judge.read(1, logRatio: fine) == ([1], false), "not suspect: released at once")
        XCTAssertTrue(judge.read(2, logRatio: suspect) == ([], false), "suspect: held")
        XCTAssertTrue(judge.read(3, logRatio: harmless) == ([], false), "a positive log ratio adds no evidence, and no relief")
        XCTAssertEqual(judge.heldTokens, [2, 3])
        XCTAssertTrue(judge.read(4, logRatio: fine) == ([2, 3, 4], false), "the window closed short of the evidence")
        XCTAssertTrue(judge.read(5, logRatio: suspect) == ([], false))
        XCTAssertTrue(judge.read(6, logRatio: -7) == ([], true), "log 1e-4 ≈ −9.2 crossed within the window: ends before 5")
        XCTAssertEqual(judge.heldTokens, [])

        // At the answer's end the held windows close where it ends; one token alone can end it.
        var ending = VetoJudge(try TokenVeto(ratio: 0.1, window: 3, evidence: 1e-4))
        XCTAssertTrue(ending.read(7, logRatio: suspect) == ([], false))
        XCTAssertTrue(ending.read(8, logRatio: suspect) == ([], false))
        XCTAssertTrue(ending.finishAnswer() == ([7, 8], false), "two suspect tokens (≈ −5.6) fall short of −9.2")
        var strong = VetoJudge(try TokenVeto(ratio: 0.1, window: 3, evidence: 1e-4))
        XCTAssertTrue(strong.read(9, logRatio: fine) == ([9], false))
        XCTAssertTrue(strong.read(10, logRatio: -12) == ([], true), "one token past the evidence ends the answer at once")

        // A later suspect token in a held window gets a window of its own once the first is released.
        var chain = VetoJudge(try TokenVeto(ratio: 0.1, window: 2, evidence: 1e-3))
        XCTAssertTrue(chain.read(1, logRatio: suspect) == ([], false))
        XCTAssertTrue(chain.read(2, logRatio: suspect) == ([1], false), "1 and 2 (≈ −5.6) fall short of log 1e-3 ≈ −6.9: 1 released, 2 held")
        XCTAssertTrue(chain.read(3, logRatio: -4.5) == ([], true), "2 and 3 together: −2.8 − 4.5 < −6.9: ends before 2")

        // Window 1 with evidence = ratio ends the answer at the first suspect token.
        var single = VetoJudge(try TokenVeto(ratio: 0.1))
        XCTAssertTrue(single.read(1, logRatio: fine) == ([1], false))
        XCTAssertTrue(single.read(2, logRatio: Float(log(0.1)) - 1e-3) == ([], true))
    }

    /// Under a veto, generation decodes the original and the patched stream side by side: the original model writes
    /// the answer, which ends before the first suspect token whose window's evidence falls short (reference by hand:
    /// two caches, the whole answer's log ratios, the rule applied to them directly).
    func testGenerationUnderAVetoFollowsTheRuleByHand() throws {
        let (languageModel, prompt, adapter) = try adapterFixture()
        let model = languageModel.model
        let length = 12
        let options = GenerationOptions(maxTokens: length, ignoreEOS: true)
        let unguarded = try TextGenerator(languageModel).generate(promptIds: prompt, options: options)
        var id = try model.applyLoRA(adapter.layers, scale: 0.1, mode: .unmerged, scope: .generatedTokens,
                                     rule: try TokenVeto(ratio: 0.5))
        let originalCache = model.makeCache(), patchedCache = model.makeCache()
        var original = try model.forward(prompt, cache: originalCache)
        var patched = try model.forward(prompt, cache: patchedCache)
        var answer: [Int] = [], logRatios: [Float] = []
        for _ in 0..<length {
            let next = Sampler.argmax(original)
            answer.append(next)
            logRatios.append(TokenVeto.logProbability(of: next, in: patched) - TokenVeto.logProbability(of: next, in: original))
            original = try model.forward([next], cache: originalCache, phase: .prompt)
            patched = try model.forward([next], cache: patchedCache, phase: .generated)
        }
        XCTAssertEqual(unguarded.outputIds, answer, "the original model writes the answer")
        /// Where the rule ends the answer: the first suspect token whose window's evidence falls short.
        func end(of veto: TokenVeto) -> Int {
            logRatios.indices.first { j in
                logRatios[j] < Float(log(veto.ratio))
                    && logRatios[j..<min(j + veto.window, length)].reduce(0) { $0 + min($1, 0) } < Float(log(veto.evidence))
            } ?? length
        }
        var ends: Set<Int> = []
        // Log ratios here: 0, −0.58, 0.31, −2.68, −0.88, …: the single-token rule ends before the second token, the
        // window passes it (−0.58 alone is short of log 0.4) and ends before the fourth.
        for veto in [try TokenVeto(ratio: 0.6), try TokenVeto(ratio: 0.6, window: 2, evidence: 0.4)] {
            try model.removeAdapter(id)
            id = try model.applyLoRA(adapter.layers, scale: 0.1, mode: .unmerged, scope: .generatedTokens, rule: veto)
            XCTAssertEqual(model.decodingRule as? TokenVeto, veto)
            let expected = Array(answer.prefix(end(of: veto)))
            XCTAssertTrue((1..<length).contains(expected.count), "\(veto) ends the answer within it here: \(expected.count)")
            ends.insert(expected.count)
            let cache = model.makeCache()
            var streamed: [Int] = [], streamedText = ""
            let result = try TextGenerator(languageModel).generate(promptIds: prompt, options: options, cache: cache) {
                if $0.tokenId >= 0 { streamed.append($0.tokenId) }
                streamedText += $0.text
                return true
            }
            XCTAssertEqual(result.outputIds, expected, "\(veto)")
            XCTAssertEqual(streamed, expected, "held tokens that the rule drops never reach the stream")
            XCTAssertEqual(streamedText, result.text)
            XCTAssertEqual(result.finishReason, .contentFilter)
            XCTAssertEqual(result.rule as? TokenVeto, veto)
            // The cache holds the original model's reading of the prompt and the answer, not the tokens held and dropped.
            XCTAssertEqual(cache.length, prompt.count + expected.count)
            let probe = prompt[0]
            assertClose(try model.forward([probe], cache: cache), try model.forward([probe], cache: {
                let fresh = model.makeCache()
                _ = try model.forward(prompt + expected, cache: fresh)
                return fresh
            }()), "the cache is the original stream", tolerance: 1e-4)
        }
        XCTAssertEqual(ends.count, 2, "the window lets through suspect tokens the single-token rule stops at")

        // The caller stopping the stream while tokens are held: the answer is what was delivered, and the cache holds it.
        let cache = model.makeCache()
        var delivered = 0
        let stopped = try TextGenerator(languageModel).generate(promptIds: prompt, options: options, cache: cache) { _ in
            delivered += 1
            return delivered < 2
        }
        XCTAssertEqual(stopped.finishReason, .cancelled)
        XCTAssertEqual(stopped.outputIds, Array(answer.prefix(2)))
        XCTAssertEqual(cache.length, prompt.count + 2)

        // The end of the answer is not judged: with the fourth token (log ratio −2.68, suspect under ratio 0.5) as the
        // end-of-sequence token, the answer ends there by the model's choice, not by the veto.
        let end = answer[3]
        XCTAssertFalse(answer.prefix(3).contains(end))
        let ending = LanguageModel(location: languageModel.location, config: languageModel.config, model: model,
                                   formatter: languageModel.formatter, eosTokenIds: [end],
                                   defaultSampling: languageModel.defaultSampling, weightFiles: languageModel.weightFiles,
                                   parameterCountByStorageType: languageModel.parameterCountByStorageType, loadSeconds: 0)
        try model.removeAdapter(id)
        id = try model.applyLoRA(adapter.layers, scale: 0.1, mode: .unmerged, scope: .generatedTokens, rule: try TokenVeto(ratio: 0.5))
        let vetoed = try TextGenerator(languageModel).generate(promptIds: prompt, options: options)
        XCTAssertEqual(vetoed.outputIds, Array(answer.prefix(3)))
        XCTAssertEqual(vetoed.finishReason, .contentFilter)
        let ended = try TextGenerator(ending).generate(promptIds: prompt, options: GenerationOptions(maxTokens: length))
        XCTAssertEqual(ended.outputIds, Array(answer.prefix(3)))
        XCTAssertEqual(ended.finishReason, .stop)

        try model.setScale(0, for: id)
        XCTAssertNil(model.decodingRule, "an inactive adapter's veto does not hold")
        try model.removeAdapter(id)
        XCTAssertNil(model.decodingRule)
        XCTAssertNil(try TextGenerator(languageModel).generate(promptIds: prompt, options: options).rule)
    }
}
