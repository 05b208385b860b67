import Foundation
import Runtime

/// Teleports the TeleLoRA generator onto a model it has never seen: runs the benign probe prompts, keeps a bounded
/// random sample of each targeted layer's input rows (activation taps + reservoir sampling), and turns each layer's
/// rows and weight into a LoRA patch with the generator.
///
/// The model is probed as it stands: remove adapters whose effect the generator should not see before teleporting.
public struct Teleporter: Sendable {
    public let package: TeleLoRAPackage
    /// Rows kept per layer input; the generator's `activation_rows` by default.
    public var rowsPerLayer: Int
    /// Stop probing once this many prompt tokens were run (probes taken in a seeded random order); nil runs every
    /// probe, as training did. Probing costs a prefill of every probe token, so this bounds teleport time.
    public var probeTokenBudget: Int?
    public var seed: UInt64
    /// A control: the generator is fed Gaussian noise (seeded) in place of each layer's activation rows.
    public var noiseInputSeed: UInt64?

    public init(package: TeleLoRAPackage, rowsPerLayer: Int? = nil, probeTokenBudget: Int? = nil, seed: UInt64 = 0) {
        self.package = package
        self.rowsPerLayer = rowsPerLayer ?? package.generator.spec.activationRows
        self.probeTokenBudget = probeTokenBudget
        self.seed = seed
    }

    /// Probe prompts in the order they are run: as listed, or shuffled with the seed when a token budget may cut
    /// the list short (so the prompts kept are a uniform random subset, not the first few).
    func probeOrder() -> [String] {
        guard probeTokenBudget != nil else { return package.probes.prompts }
        var random = SeededGenerator(seed: seed ^ 0x7072_6f62_6573)
        return package.probes.prompts.shuffled(using: &random)
    }

    public var generator: TeleLoRAGenerator { package.generator }

    /// The model's linear layers the generator targets, in forward order.
    public func targetedLayers(of model: LlamaModel) throws -> [String] {
        let spec = generator.spec
        var patterns: [NSRegularExpression] = []
        for pattern in spec.targets {
            do { patterns.append(try NSRegularExpression(pattern: pattern)) } catch {
                throw TeleLoRAError.malformed(file: spec.file, field: "targets", detail: "invalid regular expression \(pattern)")
            }
        }
        let layers = model.linearLayerNames.filter { name in
            let range = NSRange(name.startIndex..., in: name)
            return spec.targetLayerTypes.contains(Self.layerType(of: name))
                && patterns.contains { $0.firstMatch(in: name, range: range) != nil }
        }
        guard !layers.isEmpty else {
            throw TeleLoRAError.noTargetedLayers(file: spec.file, pattern: spec.targets.joined(separator: " | "),
                                                 example: model.linearLayerNames.first ?? "")
        }
        return layers
    }

    /// `model.layers.3.self_attn.q_proj` → `q_proj` (training/generator.py `layer_type_of`).
    public static func layerType(of module: String) -> String {
        module.split(separator: ".").last.map(String.init) ?? module
    }

    /// Layers that read the very same input rows in a Llama-family block: q/k/v read the attention norm's output,
    /// gate/up the MLP norm's. Their reservoir and pooled features are shared (the generator's X-only part is
    /// identical for them), which saves most of the generator's work.
    static func inputGroups(_ layers: [String]) -> [[String]] {
        var groups: [[String]] = []
        var indexByKey: [String: Int] = [:]
        for name in layers {
            let type = layerType(of: name)
            let block = name.split(separator: ".").dropLast().joined(separator: ".")
            let key: String
            switch type {
            case "q_proj", "k_proj", "v_proj": key = block + ":attention-input"
            case "gate_proj", "up_proj": key = block + ":mlp-input"
            default: key = name
            }
            if let index = indexByKey[key] { groups[index].append(name) } else {
                indexByKey[key] = groups.count
                groups.append([name])
            }
        }
        return groups
    }

    /// Probes the model and generates one patch per targeted layer.
    public func teleport(_ languageModel: LanguageModel,
                         progress: (TeleportProgress) -> Void = { _ in }) throws -> TeleportedAdapter {
        let start = Date()
        let model = languageModel.model
        let layers = try targetedLayers(of: model)
        let groups = Self.inputGroups(layers)

        var samplers: [ReservoirSampler] = []
        var tokens: [ActivationTapToken] = []
        defer { for token in tokens { model.removeTap(token) } }
        for (index, group) in groups.enumerated() {
            guard let shape = model.linearShape(group[0]) else { continue }
            let sampler = ReservoirSampler(capacity: rowsPerLayer, width: shape.inFeatures, seed: seed &+ UInt64(index))
            samplers.append(sampler)
            tokens.append(try model.addTap(layer: group[0]) { batch in sampler.add(batch.input, count: batch.rows) })
        }
        // Every probe is encoded first and the lot runs as packed passes (a few large matrix products per layer
        // instead of small ones per probe); taps see each probe's rows in probe order, as one-by-one passes would.
        // A base model without a chat template gets the probes as raw text: its activations on plain text are what
        // it computes in use, which a template it does not have cannot give.
        let usesChatTemplate = languageModel.formatter.chatTemplate != nil
        var probeTokens = 0
        var sequences: [[Int]] = []
        let prompts = probeOrder()
        for prompt in prompts {
            if let probeTokenBudget, probeTokens >= probeTokenBudget { break }
            var ids = usesChatTemplate ? try languageModel.encodeChat([ChatMessage(role: "user", content: prompt)])
                : languageModel.tokenizer.encode(prompt)
            if ids.count > model.contextLength { ids = Array(ids.prefix(model.contextLength)) }
            if !ids.isEmpty {
                sequences.append(ids)
                probeTokens += ids.count
            }
        }
        let probesRun = sequences.count
        try model.runForActivations(sequences) { completed in
            progress(.probing(completed: completed, total: prompts.count))
        }
        for token in tokens { model.removeTap(token) }
        tokens = []
        let probeSeconds = Date().timeIntervalSince(start)
        guard probeTokens > 0 else {
            throw TeleLoRAError.malformed(file: package.probes.file, field: "(file)", detail: "the probe prompts gave no tokens")
        }

        let generateStart = Date()
        let rank = generator.spec.rank
        var patches: [String: LoRAWeights] = [:]
        let workspace = GeneratorWorkspace()
        // The generator's matrix products are small and its elementwise passes run on our own threads: with BLAS on
        // one thread its pool goes idle instead of spinning (sched_yield) against those threads for every call.
        let blasThreads = BLAS.threadCount
        BLAS.setThreadCount(1)
        defer { BLAS.setThreadCount(blasThreads) }
        for (index, (group, sampler)) in zip(groups, samplers).enumerated() {
            let x = noiseInputSeed.map { PatchControl.gaussian(count: sampler.storedRows * sampler.width, seed: $0 &+ UInt64(index)) }
                ?? sampler.sample
            let pooled = generator.pool(x: x, rows: sampler.storedRows, width: sampler.width, workspace: workspace)
            for name in group {
                guard let shape = model.linearShape(name) else { continue }
                let made = try model.withLinearWeight(name) { weight -> LoRAWeights in
                    let patch = try generator.patch(pooled, weight: weight, outFeatures: shape.outFeatures,
                                                    layerType: Self.layerType(of: name), threads: workspace.threads)
                    // B = W·Vᵀ  [out × r]
                    let b = FloatBuffer(count: shape.outFeatures * rank)
                    patch.v.withUnsafeBufferPointer { v in
                        guard let w = weight.baseAddress, let v = v.baseAddress else { return }
                        Matrix.multiplyTransposed(w, v, into: b.pointer, m: shape.outFeatures, k: shape.inFeatures, n: rank)
                    }
                    return LoRAWeights(a: FloatBuffer(patch.u), b: b, rank: rank, inFeatures: shape.inFeatures,
                                       outFeatures: shape.outFeatures, scaling: 1)
                }
                patches[name] = made
                progress(.generating(completed: patches.count, total: layers.count))
            }
        }
        let end = Date()
        let report = TeleportReport(
            probePrompts: probesRun, probeTokens: probeTokens, probeEncoding: usesChatTemplate ? "chat_template" : "raw",
            rowsPerLayer: samplers.map(\.storedRows).max() ?? 0,
            layers: patches.count, tappedInputs: groups.count, reservoirBytes: samplers.reduce(0) { $0 + $1.bytesHeld },
            generatorScratchBytes: workspace.bytes, generatorKernels: VectorMath.kernelName, probeSeconds: probeSeconds,
            generatorSeconds: end.timeIntervalSince(generateStart), totalSeconds: end.timeIntervalSince(start), cached: false)
        var types: [String] = []
        for name in layers where !types.contains(Self.layerType(of: name)) { types.append(Self.layerType(of: name)) }
        return TeleportedAdapter(layers: patches, rank: rank, targetModules: types, modelFingerprint: model.fingerprint,
                                 scope: package.generator.spec.patchPositions, veto: package.generator.spec.veto,
                                 generatorHash: package.contentHash, report: report)
    }
}
