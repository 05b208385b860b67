import Foundation

/// Everything a Hugging Face model directory holds, loaded and validated: config, weights, tokenizer, chat template
/// and end-of-sequence ids.
public final class LanguageModel: @unchecked Sendable {
    public let directory: URL
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
    public let parameterCountByDType: [SafetensorsDType: Int]
    public let loadSeconds: Double
    private let digestLock = NSLock()
    private var cachedDigest: String?

    public static func load(directory: URL) throws -> LanguageModel {
        let start = Date()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelConfigError.unreadable(file: directory.path, detail: "not a model directory")
        }
        let configURL = directory.appendingPathComponent("config.json")
        let config = try ModelConfig.load(from: configURL)
        let weights = try WeightStore(directory: directory)
        let model = try LlamaModel.load(config: config, weights: weights, configFile: configURL.path)
        let formatter = try ChatFormatter.load(directory: directory)
        let generation = try GenerationConfig.load(directory: directory)

        var eos = Set(generation?.eosTokenId?.ids ?? config.eosTokenId?.ids ?? [])
        if eos.isEmpty, let token = formatter.eosToken, let id = formatter.tokenizer.id(forToken: token) { eos.insert(id) }
        return LanguageModel(directory: directory, config: config, model: model, formatter: formatter, eosTokenIds: eos,
                             defaultSampling: generation?.sampling ?? SamplingParameters(),
                             weightFiles: weights.files, parameterCountByDType: weights.parameterCountByDType,
                             loadSeconds: Date().timeIntervalSince(start))
    }

    init(directory: URL, config: ModelConfig, model: LlamaModel, formatter: ChatFormatter, eosTokenIds: Set<Int>,
         defaultSampling: SamplingParameters,
         weightFiles: [URL], parameterCountByDType: [SafetensorsDType: Int], loadSeconds: Double) {
        self.directory = directory
        self.config = config
        self.model = model
        self.formatter = formatter
        self.eosTokenIds = eosTokenIds
        self.defaultSampling = defaultSampling
        self.weightFiles = weightFiles
        self.parameterCountByDType = parameterCountByDType
        self.loadSeconds = loadSeconds
    }

    /// SHA-256 over the fingerprint and every weight file's bytes as stored: what the model computes with, where the
    /// fingerprint says only which adapters fit. Two fine-tunes of one base share a fingerprint, so a cache of
    /// anything derived from the weights (teleported adapters) keys on this. Read from disk on first use, so adapters
    /// merged into the weights since do not change it.
    public func weightsDigest() throws -> String {
        digestLock.lock()
        defer { digestLock.unlock() }
        if let cachedDigest { return cachedDigest }
        var hasher = SHA256()
        hasher.update("fingerprint=\(fingerprint)\n")
        for file in weightFiles {
            let data: Data
            do { data = try Data(contentsOf: file, options: .alwaysMapped) } catch {
                throw ModelConfigError.unreadable(file: file.path, detail: "weights unreadable: \(error.localizedDescription)")
            }
            hasher.update("\(file.lastPathComponent):\(data.count)\n")
            data.withUnsafeBytes { hasher.update($0) }
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
