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

    /// Decoding steps (one or two rows) apply an unmerged patch through the few-row kernels: with a stored Bᵀ for
    /// small ranks, with B as stored above `transposedRankLimit`. Both equal the merged patch's step.
    func testUnmergedDecodingStepsEqualMergedAtSmallAndLargeRanks() throws {
        let (languageModel, prompt, _) = try adapterFixture()
        let model = languageModel.model
        for rank in [8, Linear.Patch.transposedRankLimit + 1] {
            var generator = SplitMix64(seed: UInt64(rank))
            func random(_ count: Int) -> FloatBuffer {
                FloatBuffer((0..<count).map { _ in Float(Int(generator.next() % 2001) - 1000) / 20_000 })
            }
            var layers: [String: LoRAWeights] = [:]
            for name in model.linearLayerNames {
                let shape = try XCTUnwrap(model.linearShape(name))
                layers[name] = LoRAWeights(a: random(rank * shape.inFeatures), b: random(shape.outFeatures * rank), rank: rank,
                                           inFeatures: shape.inFeatures, outFeatures: shape.outFeatures, scaling: 0.5)
            }
            func steps(_ mode: LoRAMode) throws -> [Float] {
                let id = try model.applyLoRA(layers, scale: 1, mode: mode)
                defer { try? model.removeAdapter(id) }
                let one = model.makeCache(), other = model.makeCache()
                _ = try model.forward(prompt, cache: one)
                other.copy(from: one)
                let single = try model.forward([prompt[0]], cache: one, phase: .generated)
                let pair = try model.forward(sideBySide: [prompt[1], prompt[2]], caches: [other, model.makeCache()],
                                             generatedRows: 0..<2)
                return single + pair
            }
            let plain = try model.forward([prompt[0]], cache: { let c = model.makeCache(); _ = try model.forward(prompt, cache: c); return c }())
            let unmerged = try steps(.unmerged), merged = try steps(.merged)
            assertClose(unmerged, merged, "rank \(rank): unmerged decoding steps against merged", tolerance: 1e-3)
            XCTAssertGreaterThan(zip(unmerged.prefix(plain.count), plain).map { abs($0 - $1) }.max()!, 1e-2, "rank \(rank) moves the logits")
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

    /// Side by side, each cache may hold its own number of positions (sequences of different lengths decoded
    /// together): every row equals a one-token pass at its own position.
    func testSideBySideRowsAtDifferentPositionsEqualOneTokenPasses() throws {
        let name = try XCTUnwrap(adapterModels.first)
        let model = try LanguageModel.load(directory: Fixtures.model(name)).model
        let prompts = try Fixtures.expected(name).logits.map(\.prompt_ids).filter { $0.count >= 4 }.sorted { $0.count < $1.count }
        let sequences = [Array(prompts[0].dropLast()), Array(prompts[prompts.count - 1].dropLast()), Array(prompts[0].prefix(2))]
        XCTAssertEqual(Set(sequences.map(\.count)).count, 3, "three different lengths")
        func prefilled() throws -> [KVCache] {
            try sequences.map { ids in
                let cache = model.makeCache()
                _ = try model.forward(ids, cache: cache)
                return cache
            }
        }
        let tokens = [prompts[0].last!, prompts[prompts.count - 1].last!, prompts[0][2]]
        let caches = try prefilled()
        let rows = try model.forward(sideBySide: tokens, caches: caches, generatedRows: 0..<0)
        XCTAssertEqual(caches.map(\.length), sequences.map { $0.count + 1 })
        let singles = try prefilled()
        let vocab = model.vocabularySize
        for row in 0..<3 {
            let single = try model.forward([tokens[row]], cache: singles[row])
            assertClose(Array(rows[row * vocab..<(row + 1) * vocab]), single, "row \(row)", tolerance: 1e-4)
        }
        // The next step reads every cache at its new length.
        let next = try model.forward(sideBySide: tokens, caches: caches, generatedRows: 0..<0)
        for row in 0..<3 {
            let single = try model.forward([tokens[row]], cache: singles[row])
            assertClose(Array(next[row * vocab..<(row + 1) * vocab]), single, "second step, row \(row)", tolerance: 1e-4)
        }
    }

    /// A rule that accepts every token: enough to check where rules may be applied.
    struct AcceptingRule: DecodingRule {
        struct Judge: TokenJudge {
            mutating func read(proposed: Int, logits: [Float], adapted: [Float]) -> TokenVerdict { .accept(proposed) }
            mutating func finish() -> TokenVerdict { TokenVerdict(next: nil, released: []) }
        }
        func makeJudge() -> any TokenJudge { Judge() }
        var description: String { "accept" }
    }

    func testADecodingRuleNeedsAnAdapterScopedToGeneratedTokens() throws {
        let name = try XCTUnwrap(adapterModels.first)
        let model = try LanguageModel.load(directory: Fixtures.model(name)).model
        let adapter = try PEFTAdapter.load(from: Fixtures.model(name).appendingPathComponent("lora"))
        XCTAssertThrowsError(try model.applyLoRA(adapter.layers, rule: AcceptingRule(), source: "lora")) { error in
            XCTAssertEqual(error as? ModelError, .ruleWithoutGeneratedScope(source: "lora"))
        }
        XCTAssertTrue(model.appliedAdapterIDs.isEmpty)
    }

    /// A rule that accepts every proposal leaves generation as it is without one, and reports no replacement.
    func testAnAcceptingRuleChangesNothing() throws {
        let (languageModel, prompt, adapter) = try adapterFixture()
        let options = GenerationOptions(maxTokens: 10, ignoreEOS: true)
        let unadapted = try TextGenerator(languageModel).generate(promptIds: prompt, options: options)
        _ = try languageModel.model.applyLoRA(adapter.layers, scale: 0.1, scope: .generatedTokens, rule: AcceptingRule(), source: "lora")
        let ruled = try TextGenerator(languageModel).generate(promptIds: prompt, options: options)
        XCTAssertEqual(ruled.rule?.description, "accept")
        XCTAssertEqual(ruled.replacedPositions, [])
        XCTAssertEqual(ruled.outputIds, unadapted.outputIds, "under a rule the first stream, not the adapted model, proposes")
        XCTAssertEqual(ruled.finishReason, .length)
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
