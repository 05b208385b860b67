import XCTest
@testable import Runtime

/// PEFT adapters: parity with peft, merged = unmerged, exact unpatching, stacking, hot swaps, refusal of foreign adapters.
final class LoRATests: XCTestCase {
    /// The first adapter fixture: its model, the last parity prompt and its PEFT adapter.
    func adapterFixture() throws -> (languageModel: LanguageModel, prompt: [Int], adapter: PEFTAdapter) {
        let name = try XCTUnwrap(adapterModels.first)
        return (try LanguageModel.load(directory: Fixtures.model(name)),
                try XCTUnwrap(Fixtures.expected(name).logits.last).prompt_ids,
                try PEFTAdapter.load(from: Fixtures.model(name).appendingPathComponent("lora")))
    }

    /// Fixture models that ship a PEFT adapter made by peft.
    var adapterModels: [String] { Fixtures.modelNames.filter { (try? Fixtures.expected($0).lora) != nil } }

    func testFixturesHaveAdapters() {
        XCTAssertGreaterThanOrEqual(adapterModels.count, 2)
    }

    func testUnmergedAndMergedLogitsMatchPEFT() throws {
        for name in adapterModels {
            let languageModel = try LanguageModel.load(directory: Fixtures.model(name))
            let model = languageModel.model
            let reference = try XCTUnwrap(Fixtures.expected(name).lora)
            let adapter = try PEFTAdapter.load(from: Fixtures.model(name).appendingPathComponent(reference.adapter))
            for mode in LoRAMode.allCases {
                let id = try model.applyLoRA(adapter.layers, mode: mode)
                for case_ in reference.logits {
                    let logits = try model.forward(case_.prompt_ids, cache: model.makeCache())
                    assertClose(logits, case_.last_logits, "\(name) \(mode)", tolerance: 2e-4)
                }
                try model.removeAdapter(id)
            }
        }
    }

    func testGreedyWithAdapterMatchesPEFT() throws {
        for name in adapterModels {
            let languageModel = try LanguageModel.load(directory: Fixtures.model(name))
            let reference = try XCTUnwrap(Fixtures.expected(name).lora)
            let adapter = try PEFTAdapter.load(from: Fixtures.model(name).appendingPathComponent(reference.adapter))
            _ = try languageModel.model.applyLoRA(adapter.layers, mode: .merged)
            for case_ in reference.greedy {
                let result = try TextGenerator(languageModel).generate(
                    promptIds: case_.prompt_ids, options: GenerationOptions(maxTokens: case_.output_ids.count, ignoreEOS: true))
                XCTAssertEqual(result.outputIds, case_.output_ids, name)
            }
        }
    }

    func testRemovingAnAdapterRestoresBitIdenticalLogits() throws {
        let (languageModel, prompt, adapter) = try adapterFixture()
        let model = languageModel.model
        let before = try model.forward(prompt, cache: model.makeCache())
        for mode in LoRAMode.allCases {
            let first = try model.applyLoRA(adapter.layers, scale: 0.7, mode: mode)
            let second = try model.applyLoRA(adapter.layers, scale: -1.3, mode: .merged)
            try model.setScale(2.5, for: first)
            let patched = try model.forward(prompt, cache: model.makeCache())
            XCTAssertNotEqual(patched, before)
            try model.removeAdapter(first)
            try model.removeAdapter(second)
            XCTAssertEqual(try model.forward(prompt, cache: model.makeCache()), before, "\(mode): unpatch is not exact")
        }
        XCTAssertTrue(model.appliedAdapterIDs.isEmpty)
    }

    func testStackedAdaptersMatchPEFT() throws {
        let named = Fixtures.modelNames.filter { (try? Fixtures.expected($0).lora_stack) != nil }
        XCTAssertFalse(named.isEmpty, "no fixture with a stacked-adapter reference")
        for name in named {
            let model = try LanguageModel.load(directory: Fixtures.model(name)).model
            let stack = try XCTUnwrap(Fixtures.expected(name).lora_stack)
            for (adapterName, weight) in zip(stack.adapters, stack.weights) {
                let adapter = try PEFTAdapter.load(from: Fixtures.model(name).appendingPathComponent(adapterName))
                _ = try model.applyLoRA(adapter.layers, scale: weight, mode: .unmerged)
            }
            for case_ in stack.logits {
                assertClose(try model.forward(case_.prompt_ids, cache: model.makeCache()), case_.last_logits, name, tolerance: 2e-4)
            }
        }
    }

    /// An adapter scoped to generated tokens leaves prompt passes bit-identical to the base model, acts on generated
    /// passes exactly as an unscoped adapter does, and cannot be merged.
    func testGeneratedTokenScopeActsOnGeneratedPassesOnly() throws {
        let (languageModel, prompt, adapter) = try adapterFixture()
        let model = languageModel.model
        /// The prompt but its last token in one pass, then the last token as a pass of `phase`.
        func lastLogits(_ phase: ForwardPhase) throws -> [Float] {
            let cache = model.makeCache()
            _ = try model.forward(Array(prompt.dropLast()), cache: cache)
            return try model.forward([prompt.last!], cache: cache, phase: phase)
        }
        let basePrompt = try model.forward(prompt, cache: model.makeCache())
        let base = try lastLogits(.generated)

        // Reference: the prefix read without the adapter, the last token with an unscoped one.
        let cache = model.makeCache()
        _ = try model.forward(Array(prompt.dropLast()), cache: cache)
        let unscoped = try model.applyLoRA(adapter.layers, mode: .unmerged)
        let reference = try model.forward([prompt.last!], cache: cache)
        try model.removeAdapter(unscoped)
        XCTAssertNotEqual(reference, base)

        _ = try model.applyLoRA(adapter.layers, mode: .unmerged, scope: .generatedTokens)
        XCTAssertEqual(try model.forward(prompt, cache: model.makeCache()), basePrompt, "a prompt pass saw the adapter")
        XCTAssertEqual(try lastLogits(.prompt), base)
        XCTAssertEqual(try lastLogits(.generated), reference)
        XCTAssertThrowsError(try model.applyLoRA(adapter.layers, mode: .merged, scope: .generatedTokens)) { error in
            XCTAssertEqual(error as? ModelError, .mergedScopedAdapter(source: "adapter"))
        }
    }

    /// Greedy generation under a scoped adapter: the first token comes from the unpatched prompt pass, the rest from
    /// patched passes over an unpatched prompt cache.
    func testGenerationAppliesAScopedAdapterFromTheFirstGeneratedToken() throws {
        let (languageModel, prompt, adapter) = try adapterFixture()
        let model = languageModel.model
        // Reference by hand: prefill without the adapter, then decode with it (scaled up so that it changes tokens).
        let cache = model.makeCache()
        var logits = try model.forward(prompt, cache: cache)
        let id = try model.applyLoRA(adapter.layers, scale: 8, mode: .unmerged)
        var expected: [Int] = []
        for _ in 0..<6 {
            let next = Sampler.argmax(logits)
            expected.append(next)
            logits = try model.forward([next], cache: cache)
        }
        try model.removeAdapter(id)
        _ = try model.applyLoRA(adapter.layers, scale: 8, mode: .unmerged, scope: .generatedTokens)
        let result = try TextGenerator(languageModel).generate(promptIds: prompt, options: GenerationOptions(maxTokens: 6, ignoreEOS: true))
        XCTAssertEqual(result.outputIds, expected)
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
        XCTAssertTrue(ending.finish() == ([7, 8], false), "two suspect tokens (≈ −5.6) fall short of −9.2")
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
                                     veto: try TokenVeto(ratio: 0.5))
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
            id = try model.applyLoRA(adapter.layers, scale: 0.1, mode: .unmerged, scope: .generatedTokens, veto: veto)
            XCTAssertEqual(model.tokenVeto, veto)
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
            XCTAssertEqual(result.finishReason, .vetoed)
            XCTAssertEqual(result.veto, veto)
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
        id = try model.applyLoRA(adapter.layers, scale: 0.1, mode: .unmerged, scope: .generatedTokens, veto: try TokenVeto(ratio: 0.5))
        let vetoed = try TextGenerator(languageModel).generate(promptIds: prompt, options: options)
        XCTAssertEqual(vetoed.outputIds, Array(answer.prefix(3)))
        XCTAssertEqual(vetoed.finishReason, .vetoed)
        let ended = try TextGenerator(ending).generate(promptIds: prompt, options: GenerationOptions(maxTokens: length))
        XCTAssertEqual(ended.outputIds, Array(answer.prefix(3)))
        XCTAssertEqual(ended.finishReason, .stop)

        try model.setScale(0, for: id)
        XCTAssertNil(model.tokenVeto, "an inactive adapter's veto does not hold")
        try model.removeAdapter(id)
        XCTAssertNil(model.tokenVeto)
        XCTAssertNil(try TextGenerator(languageModel).generate(promptIds: prompt, options: options).veto)
    }

    /// Side by side, each row runs after its own cache as a one-token pass of its phase would (within float
    /// tolerance: one matrix product over the rows instead of one per row), and each cache gains one position.
    func testSideBySidePassesEqualOneTokenPassesOnTheirOwnCaches() throws {
        let name = try XCTUnwrap(adapterModels.first)
        let model = try LanguageModel.load(directory: Fixtures.model(name)).model
        let prompts = try Fixtures.expected(name).logits.map(\.prompt_ids).filter { $0.count >= 4 }
        XCTAssertGreaterThanOrEqual(prompts.count, 2)
        let adapter = try PEFTAdapter.load(from: Fixtures.model(name).appendingPathComponent("lora"))
        _ = try model.applyLoRA(adapter.layers, scale: 4, mode: .unmerged, scope: .generatedTokens)
        let length = try XCTUnwrap(prompts.map(\.count).min()) - 1
        let sequences = [prompts[0], prompts[prompts.count - 1], prompts[0]]
        func prefilled() throws -> [KVCache] {
            try sequences.map { ids in
                let cache = model.makeCache()
                _ = try model.forward(Array(ids.prefix(length)), cache: cache)
                return cache
            }
        }
        let tokens = sequences.map { $0[length] }
        let caches = try prefilled()
        let both = try model.forward(sideBySide: tokens, caches: caches, generatedRows: 1..<3)
        XCTAssertEqual(caches.map(\.length), [length + 1, length + 1, length + 1])
        let singles = try prefilled()
        let vocab = model.vocabularySize
        for (row, phase) in [ForwardPhase.prompt, .generated, .generated].enumerated() {
            let single = try model.forward([tokens[row]], cache: singles[row], phase: phase)
            assertClose(Array(both[row * vocab..<(row + 1) * vocab]), single, "row \(row)", tolerance: 1e-4)
        }
        let unpatched = try model.forward([tokens[0]], cache: try prefilled()[0], phase: .prompt)
        let patchedRow = Array(both[2 * vocab..<3 * vocab])
        XCTAssertGreaterThan(zip(patchedRow, unpatched).map { abs($0 - $1) }.max() ?? 0, 1e-2, "the generated row is patched")
    }

    func testAVetoNeedsAnAdapterScopedToGeneratedTokens() throws {
        let name = try XCTUnwrap(adapterModels.first)
        let model = try LanguageModel.load(directory: Fixtures.model(name)).model
        let adapter = try PEFTAdapter.load(from: Fixtures.model(name).appendingPathComponent("lora"))
        XCTAssertThrowsError(try model.applyLoRA(adapter.layers, veto: try TokenVeto(ratio: 0.1), source: "lora")) { error in
            XCTAssertEqual(error as? ModelError, .vetoWithoutGeneratedScope(source: "lora"))
        }
        XCTAssertTrue(model.appliedAdapterIDs.isEmpty)
    }

    func testScaleChangesTakeEffectBetweenTwoGeneratedTokens() throws {
        let name = try XCTUnwrap(adapterModels.first)
        let languageModel = try LanguageModel.load(directory: Fixtures.model(name))
        let model = languageModel.model
        let prompt = try XCTUnwrap(Fixtures.expected(name).greedy.first).prompt_ids
        let adapter = try PEFTAdapter.load(from: Fixtures.model(name).appendingPathComponent("lora"))
        let options = GenerationOptions(maxTokens: 12, ignoreEOS: true)
        let plain = try TextGenerator(languageModel).generate(promptIds: prompt, options: options).outputIds

        let id = try model.applyLoRA(adapter.layers, scale: 0, mode: .unmerged)
        var seen = 0
        let swapped = try TextGenerator(languageModel).generate(promptIds: prompt, options: options) { _ in
            seen += 1
            if seen == 4 { try? model.setScale(4, for: id) }
            return true
        }.outputIds
        XCTAssertEqual(Array(swapped.prefix(4)), Array(plain.prefix(4)), "tokens before the swap must not change")
        XCTAssertNotEqual(Array(swapped.suffix(8)), Array(plain.suffix(8)), "the swap must change later tokens")
    }

    func testAdapterForAnotherModelIsRefusedAndChangesNothing() throws {
        let names = adapterModels
        guard names.count >= 2 else { return XCTFail("need two fixture models with adapters") }
        let model = try LanguageModel.load(directory: Fixtures.model(names[0])).model
        let prompt = try XCTUnwrap(Fixtures.expected(names[0]).logits.first).prompt_ids
        let before = try model.forward(prompt, cache: model.makeCache())
        let foreign = try PEFTAdapter.load(from: Fixtures.model(names[1]).appendingPathComponent("lora"))
        XCTAssertThrowsError(try model.applyLoRA(foreign.layers, source: "foreign/adapter_model.safetensors")) { error in
            guard let adapterError = error as? AdapterError else { return XCTFail("unexpected \(error)") }
            switch adapterError {
            case .shapeMismatch(let file, let tensor, _, _), .unknownTarget(let file, let tensor, _):
                XCTAssertEqual(file, "foreign/adapter_model.safetensors")
                XCTAssertTrue(tensor.hasPrefix("model.layers."), tensor)
            default: XCTFail("unexpected \(adapterError)")
            }
        }
        XCTAssertTrue(model.appliedAdapterIDs.isEmpty)
        XCTAssertEqual(try model.forward(prompt, cache: model.makeCache()), before)
    }

    func testSavedAdapterReloadsIdentically() throws {
        let name = try XCTUnwrap(adapterModels.first)
        let adapter = try PEFTAdapter.load(from: Fixtures.model(name).appendingPathComponent("lora"))
        let directory = try Fixtures.temporaryDirectory(self).appendingPathComponent("copy")
        try PEFTAdapter.save(layers: adapter.layers, config: adapter.config, to: directory)
        let reloaded = try PEFTAdapter.load(from: directory)
        XCTAssertEqual(Set(reloaded.layers.keys), Set(adapter.layers.keys))
        for (module, weights) in adapter.layers {
            let other = try XCTUnwrap(reloaded.layers[module])
            XCTAssertEqual(other.a.array, weights.a.array)
            XCTAssertEqual(other.b.array, weights.b.array)
            XCTAssertEqual(other.scaling, weights.scaling)
        }
    }

    func testPEFTTensorNamesMapToModules() {
        XCTAssertEqual(PEFTAdapter.moduleName(ofTensor: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")?.0,
                       "model.layers.0.self_attn.q_proj")
        XCTAssertEqual(PEFTAdapter.moduleName(ofTensor: "base_model.model.model.layers.2.mlp.down_proj.lora_B.default.weight")?.1, false)
        XCTAssertNil(PEFTAdapter.moduleName(ofTensor: "base_model.model.lm_head.weight"))
    }

    func testRSLoRAAndAlphaPatternScaling() {
        var config = PEFTAdapterConfig(r: 4, loraAlpha: 8, targetModules: ["q_proj"])
        XCTAssertEqual(config.scaling(module: "model.layers.0.self_attn.q_proj", rank: 4), 2)
        config.useRslora = true
        XCTAssertEqual(config.scaling(module: "model.layers.0.self_attn.q_proj", rank: 4), 4)
        config.alphaPattern = ["q_proj": 16]
        XCTAssertEqual(config.scaling(module: "model.layers.0.self_attn.q_proj", rank: 4), 8)
    }
}
