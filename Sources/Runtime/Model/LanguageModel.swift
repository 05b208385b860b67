import Foundation

/// Everything a model holds, loaded and validated: config, weights, tokenizer, chat template and end-of-sequence ids,
/// from a Hugging Face model directory or a GGUF file (llama.cpp, Ollama, LM Studio).
public final class LanguageModel: @unchecked Sendable {
    /// The model directory or GGUF file it was loaded from.
    public let location: URL
    public let config: ModelConfig
    public let model: LlamaModel
    /// Tokenizer, chat template and special tokens.
    public let formatter: ChatFormatter
    public var tokenizer: Tokenizer { formatter.tokenizer }
    /// The base-model fingerprint adapters record (see `LlamaModel.fingerprint`).
    public var fingerprint: String { model.fingerprint }
    /// Ids that end generation: generation_config.json, else config.json, else the tokenizer's eos token.
    public let eosTokenIds: Set<Int>
    /// Sampling defaults from generation_config.json (greedy when it does not ask for sampling).
    public let defaultSampling: SamplingParameters
    public let weightFiles: [URL]
    /// Parameters by storage type as the files hold them ("BF16", "F32" for safetensors; "Q4_1", "F32" for GGUF).
    public let parameterCountByStorageType: [String: Int]
    /// The GGUF file's metadata and tensor table, when the model came from one.
    public let gguf: GGUFFile?
    public let loadSeconds: Double
    /// PEFT adapters merged into the weights as part of the model (`merge(_:scale:)`), in order.
    public private(set) var mergedAdapters: [MergedAdapter] = []
    private let digestLock = NSLock()
    private var cachedDigest: String?

    /// An adapter that is part of the model under test (a fine-tune shipped as a LoRA, for instance): merged for good,
    /// counted in `weightsDigest`, seen by everything that reads the model (a teleported guard included).
    public struct MergedAdapter: Sendable {
        public let directory: URL
        public let scale: Float
        /// The files whose bytes it was made from (config and weights).
        public var files: [URL] {
            [directory.appendingPathComponent(PEFTAdapter.configFile), directory.appendingPathComponent(PEFTAdapter.weightsFile)]
        }
    }

    /// Merges `adapter` into the weights for good: from now on it is part of the model (its digest changes with it).
    /// Call before anything applies other adapters or reads the digest.
    public func merge(_ adapter: PEFTAdapter, scale: Float = 1) throws {
        _ = try model.apply(adapter, scale: scale, mode: .merged)
        digestLock.lock()
        defer { digestLock.unlock() }
        mergedAdapters.append(MergedAdapter(directory: adapter.directory, scale: scale))
        cachedDigest = nil
    }

    /// Loads a Hugging Face model directory or a GGUF file (see `ModelPath.isGGUF`). `precision` decides whether a
    /// GGUF file's Q8_0/Q4_0/Q4_1 matrices stay quantized in memory (the default, as llama.cpp) or become float32.
    public static func load(path: URL, precision: WeightPrecision = .asStored) throws -> LanguageModel {
        ModelPath.isGGUF(path) ? try load(ggufFile: path, precision: precision) : try load(directory: path)
    }

    public static func load(directory: URL) throws -> LanguageModel {
        let start = Date()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            if ModelPath.isGGUF(directory) { return try load(ggufFile: directory, precision: .asStored) }
            throw ModelConfigError.unreadable(file: directory.path, detail: "not a model directory or GGUF file")
        }
        let configURL = directory.appendingPathComponent("config.json")
        let config = try ModelConfig.load(from: configURL)
        let weights = try WeightStore(directory: directory)
        let model = try LlamaModel.load(config: config, weights: weights, configFile: configURL.path)
        let formatter = try ChatFormatter.load(directory: directory)
        let generation = try GenerationConfig.load(directory: directory)

        var eos = Set(generation?.eosTokenId?.ids ?? config.eosTokenId?.ids ?? [])
        if eos.isEmpty, let token = formatter.eosToken, let id = formatter.tokenizer.id(forToken: token) { eos.insert(id) }
        var counts: [String: Int] = [:]
        for (dtype, count) in weights.parameterCountByDType { counts[dtype.rawValue, default: 0] += count }
        return LanguageModel(location: directory, config: config, model: model, formatter: formatter, eosTokenIds: eos,
                             defaultSampling: generation?.sampling ?? SamplingParameters(),
                             weightFiles: weights.files, parameterCountByStorageType: counts, gguf: nil,
                             loadSeconds: Date().timeIntervalSince(start))
    }

    /// Loads a GGUF file: config from its `<arch>.*` metadata, tensors under Hugging Face names (Q8_0/Q4_0/Q4_1
    /// matrices kept quantized under `.asStored`, everything else float32), tokenizer and chat template from
    /// `tokenizer.*`; greedy by default (a GGUF states no sampling).
    public static func load(ggufFile url: URL, precision: WeightPrecision = .asStored) throws -> LanguageModel {
        let start = Date()
        let file = try GGUFFile(url: url)
        let weights = try GGUFWeights(file: file)
        let model = try LlamaModel.load(config: weights.config, weights: weights, configFile: url.path, rope: weights.rope,
                                        precision: precision)
        let text = try GGUFTokenizer(file: file)
        let formatter = try text.formatter(file: url.path)
        var counts: [String: Int] = [:]
        for tensor in file.tensors { counts[tensor.type.description, default: 0] += tensor.elementCount }
        return LanguageModel(location: url, config: weights.config, model: model, formatter: formatter,
                             eosTokenIds: text.endTokenIds, defaultSampling: SamplingParameters(), weightFiles: [url],
                             parameterCountByStorageType: counts, gguf: file, loadSeconds: Date().timeIntervalSince(start))
    }

    init(location: URL, config: ModelConfig, model: LlamaModel, formatter: ChatFormatter, eosTokenIds: Set<Int>,
         defaultSampling: SamplingParameters, weightFiles: [URL], parameterCountByStorageType: [String: Int],
         gguf: GGUFFile? = nil, loadSeconds: Double) {
        self.location = location
        self.config = config
        self.model = model
        self.formatter = formatter
        self.eosTokenIds = eosTokenIds
        self.defaultSampling = defaultSampling
        self.weightFiles = weightFiles
        self.parameterCountByStorageType = parameterCountByStorageType
        self.gguf = gguf
        self.loadSeconds = loadSeconds
    }

    /// SHA-256 over the fingerprint and every weight file's bytes as stored: what the model computes with, where the
    /// fingerprint says only which adapters fit. Two fine-tunes of one base share a fingerprint, so a cache of
    /// anything derived from the weights (teleported adapters) keys on this. Read from disk on first use, so adapters
    /// applied since do not change it; adapters merged with `merge(_:scale:)` (their scale and files) do.
    public func weightsDigest() throws -> String {
        digestLock.lock()
        defer { digestLock.unlock() }
        if let cachedDigest { return cachedDigest }
        var hasher = SHA256()
        hasher.update("fingerprint=\(fingerprint)\n")
        // Quantized kernels quantize the inputs too, so what the model computes depends on how it is kept.
        let quantizedTypes = model.matrixStorage.parametersByType.keys.filter { $0 != "F32" }.sorted()
        if !quantizedTypes.isEmpty { hasher.update("kept quantized: \(quantizedTypes.joined(separator: ","))\n") }
        for file in weightFiles {
            let data: Data
            do { data = try Data(contentsOf: file, options: .alwaysMapped) } catch {
                throw ModelConfigError.unreadable(file: file.path, detail: "weights unreadable: \(error.localizedDescription)")
            }
            hasher.update("\(file.lastPathComponent):\(data.count)\n")
            data.withUnsafeBytes { hasher.update($0) }
        }
        for merged in mergedAdapters {
            hasher.update("merged adapter scale=\(merged.scale)\n")
            for file in merged.files {
                let data: Data
                do { data = try Data(contentsOf: file, options: .alwaysMapped) } catch {
                    throw AdapterError.unreadable(file: file.path, detail: error.localizedDescription)
                }
                hasher.update("\(file.lastPathComponent):\(data.count)\n")
                data.withUnsafeBytes { hasher.update($0) }
            }
        }
        let digest = hasher.finalize()
        cachedDigest = digest
        return digest
    }

    public func encodeChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> [Int] {
        try formatter.encodeChat(messages, addGenerationPrompt: addGenerationPrompt)
    }
}

/// A chat template that is missing or does not parse, with the file it came from.
public struct ChatTemplateLoadError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let underlying: String
    public var description: String { "\(file): chat template: \(underlying)" }
}
