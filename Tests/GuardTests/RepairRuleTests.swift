import Foundation
import XCTest

@testable import Guard
@testable import Runtime

/// The repair rule and the per-model calibration: the judge's arithmetic, generation under the rule against a
/// reference computed by hand from two caches, and the calibration's choice against shares measured token by token.
final class RepairRuleTests: XCTestCase {
    func fixture() throws -> (languageModel: LanguageModel, prompt: [Int], adapter: PEFTAdapter) {
        let directory = GuardFixtures.model("llama-metaspace-oldkeys")
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("expected.json"))) as? [String: Any])
        let prompt = try XCTUnwrap((expected["logits"] as? [[String: Any]])?.last?["prompt_ids"] as? [Int])
        return (try LanguageModel.load(directory: directory), prompt, try PEFTAdapter.load(from: directory.appendingPathComponent("lora")))
    }

    func testJudgeAcceptsRepairsAndRefuses() throws {
        let rule = try RepairRule(ratio: 0.2)
        XCTAssertEqual(rule.description, "repair at ratio 0.2, refusing after 3 repairs in 8 tokens")
        var judge = rule.makeJudge()
        // q(0)/p(0) = e⁻² ≈ 0.135 < 0.2: token 0 is repaired by the patched model's choice, 2.
        let original: [Float] = [2, 1, 0], patched: [Float] = [0, 1, 2]
        XCTAssertEqual(judge.read(proposed: 0, logits: original, adapted: patched), TokenVerdict(next: 2, released: [2]))
        XCTAssertEqual(judge.read(proposed: 1, logits: original, adapted: patched), .accept(1), "equal probabilities")
        XCTAssertEqual(judge.read(proposed: 0, logits: original, adapted: patched), TokenVerdict(next: 2, released: [2]))
        // The third repair within 8 tokens ends the answer instead.
        XCTAssertEqual(judge.read(proposed: 0, logits: original, adapted: patched), TokenVerdict(next: nil, released: [], ended: true))
        // Repairs further apart than the window never add up.
        var spaced = try RepairRule(ratio: 0.2, refusal: 2, refusalWindow: 3).makeJudge()
        for step in 0..<12 {
            let verdict = spaced.read(proposed: step % 3 == 0 ? 0 : 1, logits: original, adapted: patched)
            XCTAssertFalse(verdict.ended, "step \(step)")
        }
        for (bad, detail) in [(0.0, "must be in (0, 1], found 0.0"), (1.5, "must be in (0, 1], found 1.5")] {
            XCTAssertThrowsError(try RepairRule(ratio: bad)) { error in
                XCTAssertEqual(error as? GenerationError, .invalidParameter(field: "repair_ratio", detail: detail))
            }
        }
        XCTAssertThrowsError(try RepairRule(refusal: 4, refusalWindow: 3))
    }

    /// Generation under the repair rule equals the rule applied by hand: two caches, the original model proposing,
    /// a proposal the patch rules out replaced by the patch's argmax, both streams reading the chosen token.
    func testGenerationUnderTheRepairRuleFollowsTheRuleByHand() throws {
        let (languageModel, prompt, adapter) = try fixture()
        let model = languageModel.model
        let length = 12
        let rule = try RepairRule(ratio: 0.5, refusal: 12, refusalWindow: 12)
        _ = try model.applyLoRA(adapter.layers, scale: 0.1, mode: .unmerged, scope: .generatedTokens, rule: rule)
        let originalCache = model.makeCache(), patchedCache = model.makeCache()
        var original = try model.forward(prompt, cache: originalCache)
        patchedCache.copy(from: originalCache)  // the prompt is read unpatched by both streams
        var patched = original
        var answer: [Int] = [], replaced: [Int] = []
        for position in 0..<length {
            let proposal = Sampler.argmax(original)
            var chosen = proposal
            if TokenVeto.logProbability(of: proposal, in: patched) - TokenVeto.logProbability(of: proposal, in: original) < Float(log(0.5)) {
                chosen = Sampler.argmax(patched)
                if chosen != proposal { replaced.append(position) }
            }
            answer.append(chosen)
            original = try model.forward([chosen], cache: originalCache, phase: .prompt)
            patched = try model.forward([chosen], cache: patchedCache, phase: .generated)
        }
        XCTAssertFalse(replaced.isEmpty, "the patch rules out some proposals here")
        let result = try TextGenerator(languageModel).generate(promptIds: prompt, options: GenerationOptions(maxTokens: length, ignoreEOS: true))
        XCTAssertEqual(result.outputIds, answer)
        XCTAssertEqual(result.replacedPositions, replaced)
        XCTAssertEqual(result.finishReason, .length)
    }

    /// The calibration keeps the largest candidate scale whose share of suspect answer tokens meets the target; the
    /// shares it measures in batched passes equal those counted token by token.
    func testCalibrationChoosesTheLargestScaleWithinTheTarget() throws {
        let (languageModel, _, adapter) = try fixture()
        let model = languageModel.model
        let id = try model.applyLoRA(adapter.layers, scale: 1, mode: .unmerged, scope: .generatedTokens, rule: try RepairRule())
        var calibrator = GuardCalibrator(probes: ["Hello there", "What is this?", "Tell me a story", "Count to five"], promptCount: 2)
        calibrator.answerTokens = 10
        calibrator.ratio = 0.5
        calibrator.scales = [1, 0.5, 0.25, 0.125, 0.0625]
        XCTAssertEqual(calibrator.prompts, ["Hello there", "Tell me a story"])

        // Token-by-token reference for the share at scale 1: the first stream answers, the patched stream reads it.
        try model.setScale(0, for: id)
        var suspect = 0, judged = 0
        for text in calibrator.prompts {
            let promptIds = try languageModel.encodeChat([ChatMessage(role: "user", content: text)])
            var sampling = SamplingParameters()
            sampling.temperature = 0
            let answer = try TextGenerator(languageModel).generate(promptIds: promptIds, options: GenerationOptions(sampling: sampling, maxTokens: 10)).outputIds
            try model.setScale(1, for: id)
            let first = model.makeCache(), second = model.makeCache()
            _ = try model.forward(promptIds, cache: first)
            second.copy(from: first)
            for position in 1..<answer.count {
                let both = try model.forward(sideBySide: [answer[position - 1], answer[position - 1]], caches: [first, second], generatedRows: 1..<2)
                let p = Array(both[..<model.vocabularySize]), q = Array(both[model.vocabularySize...])
                if TokenVeto.logProbability(of: answer[position], in: q) - TokenVeto.logProbability(of: answer[position], in: p) < Float(log(0.5)) { suspect += 1 }
                judged += 1
            }
            try model.setScale(0, for: id)
        }
        // The share at scale 1, measured by the calibration's own passes, equals the token-by-token count.
        var atOne = calibrator
        atOne.scales = [1]
        atOne.touchTarget = 1
        let one = try atOne.calibrate(languageModel, adapter: id)
        XCTAssertEqual(one.judgedTokens, judged)
        XCTAssertEqual(one.tried.map(\.scale), [1])
        XCTAssertEqual(one.tried[0].touchedShare, Double(suspect) / Double(judged), accuracy: 1e-12)

        // Bisection ends on a candidate within the target whose next larger candidate misses it.
        calibrator.touchTarget = Double(suspect) / Double(judged) - 1e-9  // scale 1 just misses it
        let calibration = try calibrator.calibrate(languageModel, adapter: id)
        XCTAssertEqual(calibration.judgedTokens, judged)
        XCTAssertLessThan(calibration.scale, 1)
        XCTAssertEqual(calibration.tried.map(\.scale), calibration.tried.map(\.scale).sorted(by: >), "largest first")
        XCTAssertLessThan(calibration.tried.count, calibrator.scales.count, "fewer passes than candidates")
        func share(at scale: Float) throws -> Double {
            var single = calibrator
            single.scales = [scale]
            single.touchTarget = 1
            return try single.calibrate(languageModel, adapter: id).tried[0].touchedShare
        }
        for measurement in calibration.tried { XCTAssertEqual(measurement.touchedShare, try share(at: measurement.scale), accuracy: 1e-12) }
        if calibration.scale > 0 {
            let index = try XCTUnwrap(calibrator.scales.firstIndex(of: calibration.scale))
            XCTAssertLessThanOrEqual(calibration.touchedShare, calibration.touchTarget)
            XCTAssertGreaterThan(try share(at: calibrator.scales[index - 1]), calibration.touchTarget)
        }

        // A target nothing meets leaves the patch at scale 0 (the smallest candidate was tried); a generous one keeps 1.
        calibrator.touchTarget = -1
        let none = try calibrator.calibrate(languageModel, adapter: id)
        XCTAssertEqual(none.scale, 0)
        XCTAssertEqual(none.tried.last?.scale, calibrator.scales.last)
        XCTAssertTrue(none.description.hasPrefix("calibrated to scale 0"), none.description)
        calibrator.touchTarget = 1
        XCTAssertEqual(try calibrator.calibrate(languageModel, adapter: id).scale, 1)

        // Stored beside a cached adapter and read back only with the same settings.
        let url = try GuardFixtures.temporaryDirectory(self).appendingPathComponent(GuardCalibration.fileName)
        try calibration.save(to: url, calibrator: { var c = calibrator; c.touchTarget = calibration.touchTarget; return c }())
        var same = calibrator
        same.touchTarget = calibration.touchTarget
        let loaded = try XCTUnwrap(GuardCalibration.load(from: url, matching: same))
        XCTAssertEqual(loaded.scale, calibration.scale)
        XCTAssertEqual(loaded.touchedShare, calibration.touchedShare, accuracy: 1e-12)
        XCTAssertEqual(loaded.judgedTokens, calibration.judgedTokens)
        XCTAssertEqual(loaded.tried.map(\.scale), calibration.tried.map(\.scale))
        XCTAssertEqual(loaded.seconds, calibration.seconds, accuracy: 1e-9)
        XCTAssertNil(GuardCalibration.load(from: url, matching: calibrator), "another target measures anew")
        // Edited after it was stored (scale 0 would turn the guard off silently): not its recorded digest, not used.
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        object["scale"] = 0
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: url)
        XCTAssertNil(GuardCalibration.load(from: url, matching: same))
    }

    /// The calibration decodes its answers side by side; each equals the model's own greedy answer from TextGenerator.
    func testAnswersDecodedSideBySideEqualGreedyGeneration() throws {
        let (languageModel, _, _) = try fixture()
        var calibrator = GuardCalibrator(probes: ["Hello there", "What is this thing called?", "Tell me a story", "Hi"], promptCount: 4)
        calibrator.answerTokens = 12
        let answers = try calibrator.ownAnswers(languageModel)
        XCTAssertEqual(answers.count, 4)
        var sampling = SamplingParameters()
        sampling.temperature = 0
        for (prompt, (cache, answer, logProbabilities)) in zip(calibrator.prompts, answers) {
            let ids = try languageModel.encodeChat([ChatMessage(role: "user", content: prompt)])
            XCTAssertEqual(cache.length, ids.count, "the cache holds the prompt alone")
            let expected = try TextGenerator(languageModel).generate(promptIds: ids, options: GenerationOptions(sampling: sampling, maxTokens: 12))
            XCTAssertEqual(answer, expected.outputIds, prompt)
            // The log-probability recorded for each answer token is the model's own, read again by one prompt pass.
            let reading = languageModel.model.makeCache()
            let logits = try languageModel.model.forward(ids + answer.dropLast(), cache: reading, allPositions: true)
            let vocabulary = languageModel.model.vocabularySize
            XCTAssertEqual(logProbabilities.count, answer.count)
            for (position, token) in answer.enumerated() {
                let row = Array(logits[((ids.count - 1 + position) * vocabulary)..<((ids.count + position) * vocabulary)])
                XCTAssertEqual(logProbabilities[position], TokenVeto.logProbability(of: token, in: row), accuracy: 1e-4)
            }
        }
    }
}
