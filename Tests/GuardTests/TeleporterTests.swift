import Foundation
import Guard
import Runtime
import XCTest

/// Teleporting onto fixture models: the PEFT export round-trips exactly, the guard's off state is the original
/// model bit for bit, the cache gives the same adapter, and memory is bounded by the row budget.
final class TeleporterTests: XCTestCase {
    let modelName = "llama-metaspace-oldkeys"

    func load(_ name: String? = nil) throws -> LanguageModel {
        try LanguageModel.load(directory: GuardFixtures.model(name ?? modelName))
    }

    func logits(_ languageModel: LanguageModel, prompt: String = "The quick brown fox jumps over the lazy dog") throws -> [Float] {
        let ids = try languageModel.encodeChat([ChatMessage(role: "user", content: prompt)])
        let model = languageModel.model
        return try model.forward(ids, cache: model.makeCache(capacity: ids.count), allPositions: true)
    }

    func testTeleportPatchesEveryTargetedLayerWithinTheRowBudget() throws {
        let languageModel = try load()
        let package = try TeleLoRAPackage.load(directory: GuardFixtures.generator)
        var progress: [TeleportProgress] = []
        let adapter = try Teleporter(package: package).teleport(languageModel) { progress.append($0) }
        let spec = package.generator.spec
        let expectedLayers = languageModel.model.linearLayerNames.filter { spec.targetLayerTypes.contains(Teleporter.layerType(of: $0)) }
        XCTAssertEqual(Set(adapter.layers.keys), Set(expectedLayers))
        XCTAssertEqual(adapter.report.layers, expectedLayers.count)
        XCTAssertEqual(adapter.report.rowsPerLayer, spec.activationRows, "the probes give more positions than the budget")
        // q/k/v and gate/up share their input: 4 tapped inputs per decoder layer.
        XCTAssertEqual(adapter.report.tappedInputs, 4 * languageModel.config.numHiddenLayers)
        let widths = languageModel.config.hiddenSize * 3 + languageModel.config.intermediateSize
        XCTAssertEqual(adapter.report.reservoirBytes, languageModel.config.numHiddenLayers * spec.activationRows * widths * 4)
        // Probes run as packed passes: one progress step per pass, the last one with every probe done.
        let probed = progress.compactMap { step -> Int? in if case .probing(let completed, _) = step { return completed } else { return nil } }
        XCTAssertEqual(probed.last, package.probes.prompts.count)
        XCTAssertEqual(probed, probed.sorted())
        XCTAssertEqual(progress.first.map { if case .probing = $0 { return true } else { return false } }, true)
        XCTAssertEqual(progress.last, .generating(completed: expectedLayers.count, total: expectedLayers.count))
        for (name, weights) in adapter.layers {
            XCTAssertEqual(weights.rank, spec.rank)
            XCTAssertEqual(weights.scaling, 1)
            XCTAssertGreaterThan(weights.b.array.map(abs).max() ?? 0, 0, name)
        }
        XCTAssertEqual(adapter.modelFingerprint, languageModel.fingerprint)
        XCTAssertEqual(adapter.generatorHash, package.contentHash)
    }

    func testBaseModelWithoutChatTemplateIsProbedWithRawText() throws {
        let copy = try GuardFixtures.temporaryDirectory(self).appendingPathComponent("base")
        try FileManager.default.copyItem(at: GuardFixtures.model(modelName), to: copy)
        try GuardFixtures.editJSON(copy.appendingPathComponent("tokenizer_config.json")) { $0["chat_template"] = nil }
        let base = try LanguageModel.load(directory: copy)
        XCTAssertNil(base.formatter.chatTemplate)
        let package = try TeleLoRAPackage.load(directory: GuardFixtures.generator)
        let adapter = try Teleporter(package: package).teleport(base)
        XCTAssertEqual(adapter.report.probeEncoding, "raw")
        XCTAssertEqual(adapter.report.probeTokens, package.probes.prompts.map { base.tokenizer.encode($0).count }.reduce(0, +))
        XCTAssertEqual(adapter.layers.count, base.model.linearLayerNames.count)
        XCTAssertEqual(try Teleporter(package: package).teleport(try load()).report.probeEncoding, "chat_template")
    }

    func testTeleportIsDeterministic() throws {
        let languageModel = try load()
        let package = try TeleLoRAPackage.load(directory: GuardFixtures.generator)
        let first = try Teleporter(package: package).teleport(languageModel)
        let second = try Teleporter(package: package).teleport(languageModel)
        XCTAssertEqual(Set(first.layers.keys), Set(second.layers.keys))
        for (name, weights) in first.layers {
            XCTAssertEqual(weights.a.array, second.layers[name]?.a.array, name)
            XCTAssertEqual(weights.b.array, second.layers[name]?.b.array, name)
        }
    }

    func testPEFTExportReloadsToIdenticalLogits() throws {
        let languageModel = try load()
        let package = try TeleLoRAPackage.load(directory: GuardFixtures.generator)
        let adapter = try Teleporter(package: package).teleport(languageModel)
        let directory = try GuardFixtures.temporaryDirectory(self).appendingPathComponent("adapter")
        try adapter.save(to: directory)

        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("adapter_config.json"))) as? [String: Any]
        XCTAssertEqual(config?["lora_alpha"] as? Int, adapter.rank)
        XCTAssertEqual(config?["r"] as? Int, adapter.rank)
        XCTAssertEqual(config?["base_model_fingerprint"] as? String, languageModel.fingerprint)

        let model = languageModel.model
        let base = try logits(languageModel)
        let direct = try model.applyLoRA(adapter.layers)
        let teleported = try logits(languageModel)
        try model.removeAdapter(direct)
        let reloaded = try PEFTAdapter.load(from: directory)
        let id = try model.apply(reloaded)
        XCTAssertEqual(try logits(languageModel), teleported)
        try model.removeAdapter(id)
        XCTAssertNotEqual(teleported, base, "the random generator's patch changes the model")
    }

    /// A generator whose spec says `patch_positions: generated` teleports an adapter scoped to generated tokens: the
    /// PEFT export records it, the reload keeps it, and the guard (even when asked for merged adapters) leaves prompt
    /// passes untouched while patching generated ones.
    func testGeneratedPositionsSpecGivesAScopedGuard() throws {
        let generator = try GuardFixtures.copyOfGenerator(self)
        try GuardFixtures.editJSON(generator.appendingPathComponent("spec.json")) { $0["patch_positions"] = "generated" }
        let languageModel = try load()
        let adapter = try Teleporter(package: try TeleLoRAPackage.load(directory: generator)).teleport(languageModel)
        XCTAssertEqual(adapter.scope, .generatedTokens)
        let directory = try GuardFixtures.temporaryDirectory(self).appendingPathComponent("adapter")
        try adapter.save(to: directory)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("adapter_config.json"))) as? [String: Any]
        XCTAssertEqual(config?["teleguard_patch_positions"] as? String, "generated")
        XCTAssertEqual(try GuardAdapterKeys(PEFTAdapter.load(from: directory)).scope, .generatedTokens)

        let model = languageModel.model
        let prompt = languageModel.tokenizer.encode("Hello there, how are you?", addSpecialTokens: true)
        func generatedPass() throws -> [Float] {
            let cache = model.makeCache()
            _ = try model.forward(prompt, cache: cache)
            return try model.forward([prompt[0]], cache: cache, phase: .generated)
        }
        let promptBefore = try model.forward(prompt, cache: model.makeCache())
        let generatedBefore = try generatedPass()
        let modelGuard = ModelGuard(languageModel: languageModel, mode: .merged, cache: nil)
        try modelGuard.activate(.teleport(generator: generator))
        XCTAssertEqual(try model.forward(prompt, cache: model.makeCache()), promptBefore)
        XCTAssertNotEqual(try generatedPass(), generatedBefore)
        try modelGuard.activate(.adapter(directory))
        XCTAssertEqual(try model.forward(prompt, cache: model.makeCache()), promptBefore)
        try modelGuard.deactivate()
        XCTAssertEqual(try generatedPass(), generatedBefore)
    }

    /// A spec with `veto_ratio` (and `veto_window`, `veto_evidence`) gives a guard that decodes by the veto rule: the
    /// teleported adapter and its PEFT export carry the veto, and activating the guard (teleported, cached or from the
    /// exported directory) puts it in force.
    func testVetoSpecGivesAGuardThatDecodesByTheVeto() throws {
        let generator = try GuardFixtures.copyOfGenerator(self)
        try GuardFixtures.editJSON(generator.appendingPathComponent("spec.json")) {
            $0["patch_positions"] = "generated"
            $0["veto_ratio"] = 0.05
            $0["veto_window"] = 8
            $0["veto_evidence"] = 1e-6
        }
        let veto = try TokenVeto(ratio: 0.05, window: 8, evidence: 1e-6)
        let languageModel = try load()
        let adapter = try Teleporter(package: try TeleLoRAPackage.load(directory: generator)).teleport(languageModel)
        XCTAssertEqual(adapter.veto, veto)
        let directory = try GuardFixtures.temporaryDirectory(self).appendingPathComponent("adapter")
        try adapter.save(to: directory)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("adapter_config.json"))) as? [String: Any]
        XCTAssertEqual(config?["teleguard_veto_ratio"] as? Double, 0.05)
        XCTAssertEqual(config?["teleguard_veto_window"] as? Int, 8)
        XCTAssertEqual(config?["teleguard_veto_evidence"] as? Double, 1e-6)
        XCTAssertEqual(try GuardAdapterKeys(PEFTAdapter.load(from: directory)).veto, veto)

        let model = languageModel.model
        let cache = TeleportCache(directory: try GuardFixtures.temporaryDirectory(self))
        let modelGuard = ModelGuard(languageModel: languageModel, mode: .merged, cache: cache)
        XCTAssertEqual(try modelGuard.activate(.teleport(generator: generator), rule: .recorded).source, .teleported)
        XCTAssertEqual(model.decodingRule as? TokenVeto, veto)
        try modelGuard.deactivate()
        XCTAssertNil(model.decodingRule)
        XCTAssertEqual(try modelGuard.activate(.teleport(generator: generator), rule: .recorded).source, .teleportCache)
        XCTAssertEqual(model.decodingRule as? TokenVeto, veto)
        try modelGuard.activate(.adapter(directory), rule: .recorded)
        XCTAssertEqual(model.decodingRule as? TokenVeto, veto)
        try modelGuard.setScale(0)
        XCTAssertNil(model.decodingRule, "a guard at scale 0 vetoes nothing")
        try modelGuard.deactivate()
        XCTAssertNil(model.decodingRule)
    }

    /// A veto chosen at activation overrides the recorded one (or removes it); a chosen rule on an adapter that acts on
    /// every token is refused.
    func testARuleChoiceOverridesTheRecordedRule() throws {
        XCTAssertEqual(try RuleChoice.parse("recorded", option: "o"), .recorded)
        XCTAssertEqual(try RuleChoice.parse("off", option: "o"), RuleChoice.none)
        XCTAssertEqual(try RuleChoice.parse("0.002", option: "o"), .rule(try TokenVeto(ratio: 0.002)))
        XCTAssertEqual(try RuleChoice.parse("0.05/12/1e-8", option: "o"), .rule(try TokenVeto(ratio: 0.05, window: 12, evidence: 1e-8)))
        XCTAssertEqual(try RuleChoice.parse("veto:0.05/12/1e-8", option: "o"), .rule(try TokenVeto(ratio: 0.05, window: 12, evidence: 1e-8)))
        XCTAssertEqual(try RuleChoice.parse("repair", option: "o"), .rule(try RepairRule(ratio: 0.05)))
        XCTAssertEqual(try RuleChoice.parse("repair:0.001", option: "o"), .rule(try RepairRule(ratio: 0.001)))
        let expected = "expected auto, recorded, off, repair[:RATIO] or [veto:]RATIO[/WINDOW/EVIDENCE], found"
        for (bad, detail) in [("0.05/12", "\(expected) '0.05/12'"), ("x/1/0.1", "\(expected) 'x/1/0.1'"),
                              ("repair:x", "\(expected) 'repair:x'"), ("repair:2", "'repair:2': ratio must be in (0, 1], found 2.0"),
                              ("0.1/65/0.01", "'0.1/65/0.01': window must be in 1...64, found 65")] {
            XCTAssertThrowsError(try RuleChoice.parse(bad, option: "o")) { error in
                XCTAssertEqual(error as? GenerationError, .invalidParameter(field: "o", detail: detail))
            }
        }

        let generator = try GuardFixtures.copyOfGenerator(self)
        try GuardFixtures.editJSON(generator.appendingPathComponent("spec.json")) {
            $0["patch_positions"] = "generated"
            $0["veto_ratio"] = 0.05
        }
        let languageModel = try load()
        let modelGuard = ModelGuard(languageModel: languageModel, mode: .merged, cache: nil)
        let single = try TokenVeto(ratio: 0.01)
        try modelGuard.activate(.teleport(generator: generator), rule: .rule(single))
        XCTAssertEqual(languageModel.model.decodingRule as? TokenVeto, single)
        try modelGuard.activate(.teleport(generator: generator), rule: .none)
        XCTAssertNil(languageModel.model.decodingRule)
        try modelGuard.activate(.teleport(generator: generator), rule: .recorded)
        XCTAssertEqual(languageModel.model.decodingRule as? TokenVeto, try TokenVeto(ratio: 0.05))
        // By default a patch scoped to generated tokens decodes by the repair rule; one acting on every token by none.
        modelGuard.calibrator = nil
        try modelGuard.activate(.teleport(generator: generator))
        XCTAssertEqual(languageModel.model.decodingRule as? RepairRule, try RepairRule())
        try modelGuard.activate(.teleport(generator: GuardFixtures.generator))
        XCTAssertNil(languageModel.model.decodingRule)
        try modelGuard.deactivate()
        XCTAssertThrowsError(try modelGuard.activate(.teleport(generator: GuardFixtures.generator), rule: .rule(single))) { error in
            XCTAssertEqual(error as? ModelError, .ruleWithoutGeneratedScope(source: "teleported adapter"))
        }
    }

    func testGuardOffRestoresTheOriginalLogitsBitForBit() throws {
        let languageModel = try load()
        let original = try logits(languageModel)
        for mode in LoRAMode.allCases {
            let cache = TeleportCache(directory: try GuardFixtures.temporaryDirectory(self))
            let modelGuard = ModelGuard(languageModel: languageModel, mode: mode, cache: cache)
            let activation = try modelGuard.activate(.teleport(generator: GuardFixtures.generator), scale: 1)
            XCTAssertEqual(activation.source, .teleported)
            let guarded = try logits(languageModel)
            XCTAssertNotEqual(guarded, original, "\(mode)")
            try modelGuard.setScale(0.5)
            let halved = try logits(languageModel)
            XCTAssertNotEqual(halved, guarded, "\(mode)")
            try modelGuard.setScale(1)
            try modelGuard.deactivate()
            XCTAssertEqual(modelGuard.policy, .off)
            XCTAssertEqual(try logits(languageModel), original, "\(mode): off must restore the original bit for bit")
            XCTAssertTrue(languageModel.model.appliedAdapterIDs.isEmpty)
        }
    }

    /// Two models of one shape — a clean model and a fine-tune of it — share a fingerprint (the same adapters fit both)
    /// but not a teleported adapter: the cache keys on the weights, so the second is teleported from its own.
    func testAModelOfTheSameShapeWithOtherWeightsIsNotServedAnotherModelsCachedAdapter() throws {
        let copy = try GuardFixtures.temporaryDirectory(self).appendingPathComponent("fine-tune")
        try FileManager.default.copyItem(at: GuardFixtures.model(modelName), to: copy)
        let weights = copy.appendingPathComponent("model.safetensors")
        var bytes = try Data(contentsOf: weights)
        bytes[bytes.count - 2] ^= 0x40   // the last tensor's last element: same shapes, other weights
        try bytes.write(to: weights)
        let original = try load(), fineTune = try LanguageModel.load(directory: copy)
        XCTAssertEqual(original.fingerprint, fineTune.fingerprint)
        XCTAssertNotEqual(try original.weightsDigest(), try fineTune.weightsDigest())
        XCTAssertEqual(try original.weightsDigest(), try load().weightsDigest(), "the digest is a function of the files")

        let cache = TeleportCache(directory: try GuardFixtures.temporaryDirectory(self))
        let first = ModelGuard(languageModel: original, mode: .unmerged, cache: cache)
        XCTAssertEqual(try first.activate(.teleport(generator: GuardFixtures.generator)).source, .teleported)
        try first.deactivate()
        let second = ModelGuard(languageModel: fineTune, mode: .unmerged, cache: cache)
        XCTAssertEqual(try second.activate(.teleport(generator: GuardFixtures.generator)).source, .teleported)
        try second.deactivate()
        XCTAssertEqual(try second.activate(.teleport(generator: GuardFixtures.generator)).source, .teleportCache)
        try second.deactivate()
        var entries = try FileManager.default.contentsOfDirectory(atPath: cache.directory.path).filter { !$0.hasPrefix(".") }
        XCTAssertEqual(entries.count, 2, "\(entries)")
        XCTAssertEqual(try cache.weightsDigest(of: fineTune), try fineTune.weightsDigest(), "remembered per file identity")

        // Rewritten in place after its digest was remembered: the file's identity changes, so does the digest.
        bytes[bytes.count - 6] ^= 0x40
        try bytes.write(to: weights)
        let rewritten = try LanguageModel.load(directory: copy)
        XCTAssertNotEqual(try cache.weightsDigest(of: rewritten), try fineTune.weightsDigest())
        let third = ModelGuard(languageModel: rewritten, mode: .unmerged, cache: cache)
        XCTAssertEqual(try third.activate(.teleport(generator: GuardFixtures.generator)).source, .teleported)
        try third.deactivate()
        entries = try FileManager.default.contentsOfDirectory(atPath: cache.directory.path).filter { !$0.hasPrefix(".") }
        XCTAssertEqual(entries.count, 3, "\(entries)")
    }

    /// An adapter merged as part of the model (`--merge-lora`) makes another model: its own digest (per scale), its own
    /// teleport (the guard probes the merged weights), never the base model's cache entry; the merged logits equal the
    /// adapter applied merged by hand.
    func testAMergedAdapterIsPartOfTheModelItsDigestAndItsTeleport() throws {
        let adapter = try PEFTAdapter.load(from: GuardFixtures.model(modelName).appendingPathComponent("lora"))
        let base = try load()
        let byHand = try load()
        _ = try byHand.model.apply(adapter, scale: 0.5, mode: .merged)
        let merged = try load()
        try merged.merge(adapter, scale: 0.5)
        XCTAssertEqual(try logits(merged), try logits(byHand))
        XCTAssertNotEqual(try logits(merged), try logits(base))
        XCTAssertEqual(merged.mergedAdapters.map(\.scale), [0.5])
        XCTAssertNotEqual(try merged.weightsDigest(), try base.weightsDigest())
        let otherScale = try load()
        try otherScale.merge(adapter, scale: 1)
        XCTAssertNotEqual(try otherScale.weightsDigest(), try merged.weightsDigest())

        let cache = TeleportCache(directory: try GuardFixtures.temporaryDirectory(self))
        XCTAssertEqual(try cache.weightsDigest(of: merged), try merged.weightsDigest())
        XCTAssertNotEqual(try cache.weightsDigest(of: otherScale), try cache.weightsDigest(of: merged), "the scale is part of the identity")
        let onBase = ModelGuard(languageModel: base, mode: .unmerged, cache: cache)
        XCTAssertEqual(try onBase.activate(.teleport(generator: GuardFixtures.generator)).source, .teleported)
        try onBase.deactivate()
        let onMerged = ModelGuard(languageModel: merged, mode: .unmerged, cache: cache)
        XCTAssertEqual(try onMerged.activate(.teleport(generator: GuardFixtures.generator)).source, .teleported)
        try onMerged.deactivate()
        XCTAssertEqual(merged.model.appliedAdapterIDs.count, 1, "the guard went, the merged adapter stays")
    }

    /// A cache entry whose adapter no longer has the digest it was stored with (one byte flipped, the file cut short)
    /// is never used: the guard is teleported again, with the same result as the first time, and the entry is whole
    /// again afterwards.
    func testATamperedOrTruncatedCacheEntryIsMadeAgainNeverUsed() throws {
        let languageModel = try load()
        let cache = TeleportCache(directory: try GuardFixtures.temporaryDirectory(self))
        let modelGuard = ModelGuard(languageModel: languageModel, mode: .unmerged, cache: cache)
        let first = try modelGuard.activate(.teleport(generator: GuardFixtures.generator))
        XCTAssertEqual(first.source, .teleported)
        let fresh = try logits(languageModel)
        try modelGuard.deactivate()
        let entry = try XCTUnwrap(first.adapterDirectory)
        XCTAssertNil(TeleportCache.verify(entry: entry))
        let weights = entry.appendingPathComponent(PEFTAdapter.weightsFile)
        let original = try Data(contentsOf: weights)

        var flipped = original
        flipped[flipped.count - 3] ^= 0x10
        try flipped.write(to: weights)
        XCTAssertTrue(TeleportCache.verify(entry: entry)?.contains("SHA-256 differs") == true)
        XCTAssertEqual(try modelGuard.activate(.teleport(generator: GuardFixtures.generator)).source, .teleported)
        XCTAssertEqual(try logits(languageModel), fresh)
        try modelGuard.deactivate()
        XCTAssertNil(TeleportCache.verify(entry: entry), "made again")
        XCTAssertEqual(try Data(contentsOf: weights), original)

        try original.prefix(original.count / 2).write(to: weights)
        XCTAssertEqual(try modelGuard.activate(.teleport(generator: GuardFixtures.generator)).source, .teleported)
        try modelGuard.deactivate()
        XCTAssertEqual(try modelGuard.activate(.teleport(generator: GuardFixtures.generator)).source, .teleportCache)
        XCTAssertEqual(try logits(languageModel), fresh)
        try modelGuard.deactivate()
    }

    func testSecondActivationComesFromTheCacheWithTheSameLogits() throws {
        let languageModel = try load()
        let cache = TeleportCache(directory: try GuardFixtures.temporaryDirectory(self))
        let first = ModelGuard(languageModel: languageModel, mode: .unmerged, cache: cache)
        XCTAssertEqual(try first.activate(.teleport(generator: GuardFixtures.generator)).source, .teleported)
        let fresh = try logits(languageModel)
        try first.deactivate()

        let second = ModelGuard(languageModel: languageModel, mode: .unmerged, cache: cache)
        let activation = try second.activate(.teleport(generator: GuardFixtures.generator))
        XCTAssertEqual(activation.source, .teleportCache)
        XCTAssertEqual(activation.teleport?.cached, true)
        XCTAssertEqual(try logits(languageModel), fresh)
        // Switching from the teleported guard to an adapter directory and back is a hot patch of the same model.
        let saved = try XCTUnwrap(activation.adapterDirectory)
        try second.activate(.adapter(saved))
        XCTAssertEqual(try logits(languageModel), fresh)
        XCTAssertEqual(languageModel.model.appliedAdapterIDs.count, 1)
        try second.deactivate()
    }

    func testAdapterForAnotherModelIsRefusedWithItsFingerprint() throws {
        let languageModel = try load()
        let other = try load("qwen2-bias-tied-f32")
        XCTAssertNotEqual(languageModel.fingerprint, other.fingerprint)
        let adapter = try Teleporter(package: try TeleLoRAPackage.load(directory: GuardFixtures.generator)).teleport(other)
        let directory = try GuardFixtures.temporaryDirectory(self).appendingPathComponent("qwen-adapter")
        try adapter.save(to: directory)

        let configFile = directory.appendingPathComponent("adapter_config.json").path
        let expected = AdapterError.baseModelMismatch(file: configFile, expected: languageModel.fingerprint, found: other.fingerprint)
        XCTAssertThrowsError(try languageModel.model.apply(try PEFTAdapter.load(from: directory))) { error in
            XCTAssertEqual(error as? AdapterError, expected)
            XCTAssertTrue("\(error)".contains("base_model_fingerprint"), "\(error)")
        }
        let modelGuard = ModelGuard(languageModel: languageModel, cache: nil)
        XCTAssertThrowsError(try modelGuard.activate(.adapter(directory))) { XCTAssertEqual($0 as? AdapterError, expected) }
        XCTAssertTrue(languageModel.model.appliedAdapterIDs.isEmpty, "a refused adapter changes nothing")
    }

    func testFingerprintDependsOnShapesNotOnTheDirectory() throws {
        let languageModel = try load()
        let copy = try GuardFixtures.temporaryDirectory(self).appendingPathComponent("copy")
        try FileManager.default.copyItem(at: GuardFixtures.model(modelName), to: copy)
        XCTAssertEqual(try LanguageModel.load(directory: copy).fingerprint, languageModel.fingerprint)
        XCTAssertEqual(languageModel.fingerprint.count, 64)
    }
}
