import Foundation

/// The parts of a Hugging Face `config.json` that a Llama-family model needs.
///
/// Coding keys mirror config.json. Both the older rope keys (`rope_theta`, `rope_scaling`) and the newer
/// `rope_parameters` (transformers ≥ 5) are read; `ModelConfig.rope` resolves them into one `RopeParameters`.
public struct ModelConfig: Codable, Sendable, Equatable {
    public var architectures: [String]?
    public var modelType: String?
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int?
    public var headDim: Int?
    public var rmsNormEps: Double?
    public var vocabSize: Int
    public var maxPositionEmbeddings: Int?
    public var tieWordEmbeddings: Bool?
    public var attentionBias: Bool?
    public var mlpBias: Bool?
    public var hiddenAct: String?
    public var ropeTheta: Double?
    public var ropeScaling: RopeScalingJSON?
    public var ropeParameters: RopeScalingJSON?
    public var slidingWindow: Int?
    public var useSlidingWindow: Bool?
    public var bosTokenId: TokenIdList?
    public var eosTokenId: TokenIdList?
    public var torchDtype: String?
    public var dtype: String?

    enum CodingKeys: String, CodingKey {
        case architectures
        case modelType = "model_type"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case rmsNormEps = "rms_norm_eps"
        case vocabSize = "vocab_size"
        case maxPositionEmbeddings = "max_position_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings"
        case attentionBias = "attention_bias"
        case mlpBias = "mlp_bias"
        case hiddenAct = "hidden_act"
        case ropeTheta = "rope_theta"
        case ropeScaling = "rope_scaling"
        case ropeParameters = "rope_parameters"
        case slidingWindow = "sliding_window"
        case useSlidingWindow = "use_sliding_window"
        case bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id"
        case torchDtype = "torch_dtype"
        case dtype
    }
}

/// `eos_token_id` and `bos_token_id` are an int, a list of ints, or null.
public struct TokenIdList: Codable, Sendable, Equatable {
    public var ids: [Int]
    public init(_ ids: [Int]) { self.ids = ids }
    public init(from decoder: Swift.Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { ids = [] }
        else if let single = try? container.decode(Int.self) { ids = [single] }
        else { ids = try container.decode([Int].self) }
    }
    public func encode(to encoder: Swift.Encoder) throws {
        var container = encoder.singleValueContainer()
        if ids.count == 1 { try container.encode(ids[0]) } else { try container.encode(ids) }
    }
}

/// `rope_scaling` / `rope_parameters` as written in config.json (fields vary by rope type).
public struct RopeScalingJSON: Codable, Sendable, Equatable {
    public var ropeType: String?
    public var type: String?
    public var ropeTheta: Double?
    public var factor: Double?
    public var lowFreqFactor: Double?
    public var highFreqFactor: Double?
    public var originalMaxPositionEmbeddings: Int?

    enum CodingKeys: String, CodingKey {
        case ropeType = "rope_type"
        case type
        case ropeTheta = "rope_theta"
        case factor
        case lowFreqFactor = "low_freq_factor"
        case highFreqFactor = "high_freq_factor"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
    }
}

/// The model families this runtime implements; each maps to the same decoder with different defaults.
public enum Architecture: String, Sendable, CaseIterable {
    case llama = "LlamaForCausalLM"
    case mistral = "MistralForCausalLM"
    case qwen2 = "Qwen2ForCausalLM"
}

/// Resolved rotary embedding settings (HF `ROPE_INIT_FUNCTIONS`: default, linear, llama3).
public enum RopeScaling: Sendable, Equatable {
    case none
    case linear(factor: Double)
    case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositionEmbeddings: Int)
    /// Each inverse frequency divided by its own factor: llama.cpp's `rope_freqs` tensor, which GGUF files of
    /// llama3-scaled models carry instead of the scaling parameters.
    case frequencyFactors([Float])
}

public struct RopeParameters: Sendable, Equatable {
    public var theta: Double
    public var scaling: RopeScaling
}

public enum ModelConfigError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, detail: String)
    case malformed(file: String, detail: String)
    case unknownArchitecture(file: String, found: [String])
    case invalidValue(file: String, field: String, detail: String)
    case unsupportedRopeType(file: String, field: String, ropeType: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let detail): return "\(file): cannot read config: \(detail)"
        case .malformed(let file, let detail): return "\(file): malformed config.json: \(detail)"
        case .unknownArchitecture(let file, let found):
            let known = Architecture.allCases.map(\.rawValue).joined(separator: ", ")
            return "\(file): field 'architectures' is \(found); supported: \(known)"
        case .invalidValue(let file, let field, let detail): return "\(file): field '\(field)': \(detail)"
        case .unsupportedRopeType(let file, let field, let ropeType):
            return "\(file): field '\(field)': rope type '\(ropeType)' is not supported (supported: default, linear, llama3)"
        }
    }
}

extension ModelConfig {
    /// Reads and validates config.json.
    public static func load(from url: URL) throws -> ModelConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelConfigError.unreadable(file: url.path, detail: error.localizedDescription)
        }
        let config: ModelConfig
        do { config = try JSONDecoder().decode(ModelConfig.self, from: data) } catch let error as DecodingError {
            throw ModelConfigError.malformed(file: url.path, detail: Self.describe(error))
        } catch {
            throw ModelConfigError.malformed(file: url.path, detail: "\(error)")
        }
        try config.validate(file: url.path)
        return config
    }

    public func validate(file: String) throws {
        _ = try architecture(file: file)
        func positive(_ value: Int, _ field: String) throws {
            guard value > 0 else { throw ModelConfigError.invalidValue(file: file, field: field, detail: "must be positive, found \(value)") }
        }
        try positive(hiddenSize, "hidden_size")
        try positive(intermediateSize, "intermediate_size")
        try positive(numHiddenLayers, "num_hidden_layers")
        try positive(numAttentionHeads, "num_attention_heads")
        try positive(vocabSize, "vocab_size")
        try positive(keyValueHeads, "num_key_value_heads")
        try positive(headDimension, "head_dim")
        guard numAttentionHeads % keyValueHeads == 0 else {
            throw ModelConfigError.invalidValue(file: file, field: "num_key_value_heads",
                detail: "\(keyValueHeads) does not divide num_attention_heads \(numAttentionHeads)")
        }
        guard headDimension % 2 == 0 else {
            throw ModelConfigError.invalidValue(file: file, field: "head_dim", detail: "must be even for rotary embeddings, found \(headDimension)")
        }
        if let act = hiddenAct, act != "silu", act != "swish" {
            throw ModelConfigError.invalidValue(file: file, field: "hidden_act", detail: "'\(act)' is not supported (silu)")
        }
        _ = try rope(file: file)
    }

    public func architecture(file: String) throws -> Architecture {
        let names = architectures ?? []
        if let known = names.lazy.compactMap(Architecture.init(rawValue:)).first { return known }
        switch modelType {
        case "llama" where names.isEmpty: return .llama
        case "mistral" where names.isEmpty: return .mistral
        case "qwen2" where names.isEmpty: return .qwen2
        default: throw ModelConfigError.unknownArchitecture(file: file, found: names.isEmpty ? [modelType ?? "none"] : names)
        }
    }

    public var keyValueHeads: Int { numKeyValueHeads ?? numAttentionHeads }
    public var headDimension: Int { headDim ?? (hiddenSize / max(numAttentionHeads, 1)) }
    public var normEpsilon: Float { Float(rmsNormEps ?? 1e-6) }
    public var contextLength: Int { maxPositionEmbeddings ?? 2048 }
    public var tiesWordEmbeddings: Bool { tieWordEmbeddings ?? false }

    /// Qwen2 always has q/k/v biases (and no o_proj bias); Llama and Mistral follow `attention_bias`.
    public func hasQKVBias(file: String) throws -> Bool {
        try architecture(file: file) == .qwen2 ? true : (attentionBias ?? false)
    }
    public func hasOutputProjectionBias(file: String) throws -> Bool {
        try architecture(file: file) == .qwen2 ? false : (attentionBias ?? false)
    }
    public var hasMLPBias: Bool { mlpBias ?? false }

    /// Attention window in tokens when the architecture uses sliding-window attention, else nil.
    public func attentionWindow(file: String) throws -> Int? {
        switch try architecture(file: file) {
        case .mistral: return slidingWindow
        case .qwen2: return (useSlidingWindow ?? false) ? slidingWindow : nil
        case .llama: return nil
        }
    }

    /// Resolves `rope_parameters` (newer) or `rope_theta` + `rope_scaling` (older).
    public func rope(file: String) throws -> RopeParameters {
        let field = ropeParameters != nil ? "rope_parameters" : "rope_scaling"
        let scalingJSON = ropeParameters ?? ropeScaling
        let theta = ropeParameters?.ropeTheta ?? ropeTheta ?? 10000
        guard theta > 0 else { throw ModelConfigError.invalidValue(file: file, field: "rope_theta", detail: "must be positive") }
        guard let json = scalingJSON else { return RopeParameters(theta: theta, scaling: .none) }
        let type = json.ropeType ?? json.type ?? "default"
        switch type {
        case "default":
            return RopeParameters(theta: theta, scaling: .none)
        case "linear":
            guard let factor = json.factor, factor > 0 else {
                throw ModelConfigError.invalidValue(file: file, field: "\(field).factor", detail: "linear rope scaling needs a positive factor")
            }
            return RopeParameters(theta: theta, scaling: .linear(factor: factor))
        case "llama3":
            guard let factor = json.factor, let low = json.lowFreqFactor, let high = json.highFreqFactor,
                  let original = json.originalMaxPositionEmbeddings, factor > 0, high > low, original > 0 else {
                throw ModelConfigError.invalidValue(file: file, field: field,
                    detail: "llama3 rope scaling needs factor, low_freq_factor < high_freq_factor and original_max_position_embeddings")
            }
            return RopeParameters(theta: theta, scaling: .llama3(factor: factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: original))
        default:
            throw ModelConfigError.unsupportedRopeType(file: file, field: "\(field).rope_type", ropeType: type)
        }
    }

    /// The JSON path a decoding error points at, for error messages.
    static func describeField(_ error: DecodingError) -> String {
        let context: DecodingError.Context
        var last = ""
        switch error {
        case .keyNotFound(let key, let c): context = c; last = key.stringValue
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): context = c
        @unknown default: return ""
        }
        let parts = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue } + (last.isEmpty ? [] : [last])
        return parts.joined(separator: ".")
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let prefix = path(context)
            return "missing field '\(prefix.isEmpty ? key.stringValue : prefix + "." + key.stringValue)'"
        case .typeMismatch(let type, let context): return "field '\(path(context))' should be \(type)"
        case .valueNotFound(let type, let context): return "field '\(path(context))' is null, expected \(type)"
        case .dataCorrupted(let context): return path(context).isEmpty ? "not valid JSON" : "field '\(path(context))': \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
