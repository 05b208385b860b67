import Foundation

/// A GGUF file read as a Llama-family model: its metadata as a Hugging Face `ModelConfig`, its tensors under
/// Hugging Face names and in Hugging Face row order, so taps, PEFT adapters (by module name), fingerprints and the
/// guard see the same model as from the safetensors directory it was converted from.
///
/// llama.cpp's converter (`convert_hf_to_gguf.py`, `LlamaModel.permute`) reorders the rows of Llama `q_proj` and
/// `k_proj` within each head from the two rotary halves to interleaved pairs; loading undoes that, as transformers'
/// GGUF loader does. Qwen2 files are stored unpermuted.
public final class GGUFWeights: ModelWeightSource, @unchecked Sendable {
    /// `general.architecture` values read, and the Hugging Face class each becomes.
    static let architectures: [String: Architecture] = ["llama": .llama, "mistral": .mistral, "qwen2": .qwen2]

    public let file: GGUFFile
    public let config: ModelConfig
    /// Rotary settings, including `rope_freqs` factors where the file has them.
    public let rope: RopeParameters
    public let tensorNames: [String]
    private let sources: [String: Source]

    /// Where a Hugging Face tensor comes from: a GGUF tensor, and the head count to un-permute its rows by.
    private struct Source {
        let tensor: GGUFTensorInfo
        let permutationHeads: Int?
    }

    public init(file: GGUFFile) throws {
        self.file = file
        let path = file.url.path
        let name = try file.requiredString("general.architecture")
        guard let architecture = Self.architectures[name] else {
            throw GGUFError.unsupportedArchitecture(file: path, architecture: name,
                                                   supported: Self.architectures.keys.sorted())
        }
        let config = try Self.config(file, prefix: name, architecture: architecture)
        self.config = config

        var sources: [String: Source] = [:]
        let permutes = architecture != .qwen2
        for tensor in file.tensors {
            guard let (hfName, projection) = Self.huggingFaceName(tensor.name) else { continue }
            var heads: Int?
            if permutes, projection == "q_proj" { heads = config.numAttentionHeads }
            if permutes, projection == "k_proj" { heads = config.keyValueHeads }
            sources[hfName] = Source(tensor: tensor, permutationHeads: heads)
        }
        self.sources = sources
        tensorNames = sources.keys.sorted()

        var rope = try config.rope(file: path)
        if let factorsTensor = file.tensor("rope_freqs.weight") {
            let half = config.headDimension / 2
            guard factorsTensor.elementCount == half else {
                throw GGUFError.shapeMismatch(file: path, tensor: factorsTensor.name, expected: [half], found: factorsTensor.shape)
            }
            rope.scaling = .frequencyFactors(try file.floatBuffer(factorsTensor).array)
        }
        self.rope = rope
    }

    public func shape(of name: String) -> [Int]? { sources[name]?.tensor.shape }

    public func floatBuffer(_ name: String, expectedShape: [Int]?) throws -> FloatBuffer {
        guard let source = sources[name] else { throw GGUFError.missingTensor(file: file.url.path, tensor: name) }
        let tensor = source.tensor
        if let expectedShape, expectedShape != tensor.shape {
            throw GGUFError.shapeMismatch(file: file.url.path, tensor: tensor.name, expected: expectedShape, found: tensor.shape)
        }
        let stored = try file.floatBuffer(tensor)
        guard let heads = source.permutationHeads else {
            // A dequantized copy leaves the file's pages unneeded; a float32 view still reads them.
            if tensor.type != .f32 { file.releasePages(of: tensor) }
            return stored
        }
        let reordered = try Self.undoRotaryPermutation(stored, rows: tensor.shape[0], heads: heads, file: file.url.path,
                                                       tensor: tensor.name)
        file.releasePages(of: tensor)
        return reordered
    }

    /// Q8_0, Q4_0 and Q4_1 matrices stay in their blocks when `precision` allows (rows un-permuted as whole rows of
    /// blocks); every other type is dequantized to float32.
    public func matrix(_ name: String, outFeatures: Int, inFeatures: Int, precision: WeightPrecision) throws -> WeightMatrix {
        guard precision == .asStored, let source = sources[name], QuantizedBlocks.kernelTypes.contains(source.tensor.type),
              source.tensor.shape == [outFeatures, inFeatures], inFeatures % source.tensor.type.blockSize == 0 else {
            return WeightMatrix(dense: try floatBuffer(name, expectedShape: [outFeatures, inFeatures]),
                                inFeatures: inFeatures, outFeatures: outFeatures)
        }
        let tensor = source.tensor
        guard let heads = source.permutationHeads else {
            let view = file.view(of: tensor)
            return WeightMatrix(quantized: QuantizedBlocks(type: tensor.type, inFeatures: inFeatures, outFeatures: outFeatures,
                                                           viewing: view.bytes, owner: view.owner))
        }
        guard heads > 0, outFeatures % (2 * heads) == 0 else {
            throw GGUFError.invalidValue(file: file.url.path, key: tensor.name,
                                         detail: "\(outFeatures) rows do not split into \(heads) rotary heads")
        }
        let half = outFeatures / heads / 2
        let blocks = file.withBytes(of: tensor) { bytes in
            // See `undoRotaryPermutation`: row (h, j, i) comes from stored row h·2d + 2i + j.
            QuantizedBlocks(type: tensor.type, inFeatures: inFeatures, outFeatures: outFeatures, source: bytes.baseAddress!) { row in
                let h = row / (2 * half), j = (row % (2 * half)) / half, i = row % half
                return h * 2 * half + 2 * i + j
            }
        }
        file.releasePages(of: tensor)
        return WeightMatrix(quantized: blocks)
    }

    /// The GGUF file's tensor name as the runtime (Hugging Face) calls it, and the projection for q/k rows.
    static func huggingFaceName(_ name: String) -> (String, String?)? {
        switch name {
        case "token_embd.weight": return ("model.embed_tokens.weight", nil)
        case "output_norm.weight": return ("model.norm.weight", nil)
        case "output.weight": return ("lm_head.weight", nil)
        default: break
        }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0, String(layer) == parts[1],
              parts[3] == "weight" || parts[3] == "bias" else { return nil }
        let module: String, projection: String?
        switch parts[2] {
        case "attn_norm": (module, projection) = ("input_layernorm", nil)
        case "ffn_norm": (module, projection) = ("post_attention_layernorm", nil)
        case "attn_q": (module, projection) = ("self_attn.q_proj", "q_proj")
        case "attn_k": (module, projection) = ("self_attn.k_proj", "k_proj")
        case "attn_v": (module, projection) = ("self_attn.v_proj", nil)
        case "attn_output": (module, projection) = ("self_attn.o_proj", nil)
        case "ffn_gate": (module, projection) = ("mlp.gate_proj", nil)
        case "ffn_up": (module, projection) = ("mlp.up_proj", nil)
        case "ffn_down": (module, projection) = ("mlp.down_proj", nil)
        default: return nil
        }
        return ("model.layers.\(layer).\(module).\(parts[3])", projection)
    }

    /// Hugging Face row (head h, half j, index i) is GGUF row h·2d + 2i + j, d = rows / heads / 2: the inverse of
    /// llama.cpp's `permute` (reshape(heads, 2, d, …).swapaxes(1, 2)). Works on weights and biases alike.
    static func undoRotaryPermutation(_ stored: FloatBuffer, rows: Int, heads: Int, file: String, tensor: String) throws -> FloatBuffer {
        guard heads > 0, rows % (2 * heads) == 0 else {
            throw GGUFError.invalidValue(file: file, key: tensor, detail: "\(rows) rows do not split into \(heads) rotary heads")
        }
        let columns = stored.count / rows, half = rows / heads / 2
        let result = FloatBuffer(count: stored.count)
        for h in 0..<heads {
            for j in 0..<2 {
                for i in 0..<half {
                    let target = h * 2 * half + j * half + i, source = h * 2 * half + 2 * i + j
                    (result.pointer + target * columns).update(from: stored.pointer + source * columns, count: columns)
                }
            }
        }
        return result
    }

    /// The Hugging Face config the metadata describes (key names as llama.cpp writes them, `<arch>.*`).
    static func config(_ file: GGUFFile, prefix: String, architecture: Architecture) throws -> ModelConfig {
        let path = file.url.path
        func key(_ name: String) -> String { "\(prefix).\(name)" }
        let hidden = try file.requiredInteger(key("embedding_length"))
        let heads = try file.requiredInteger(key("attention.head_count"))
        let kvHeads = try file.integer(key("attention.head_count_kv")) ?? heads
        let headDim = try file.integer(key("attention.key_length")) ?? (heads > 0 ? hidden / heads : 0)
        if let valueLength = try file.integer(key("attention.value_length")), valueLength != headDim {
            throw GGUFError.invalidValue(file: path, key: key("attention.value_length"),
                                         detail: "\(valueLength) differs from the key length \(headDim); not supported")
        }
        if let rotary = try file.integer(key("rope.dimension_count")), rotary != headDim {
            throw GGUFError.invalidValue(file: path, key: key("rope.dimension_count"),
                                         detail: "partial rotary embeddings (\(rotary) of \(headDim) dimensions) are not supported")
        }
        let embedding = file.tensor("token_embd.weight")
        let vocabulary = try file.integer(key("vocab_size"))
            ?? embedding?.shape.first
            ?? file.metadata["tokenizer.ggml.tokens"]?.array?.count
        guard let vocabulary else { throw GGUFError.missingKey(file: path, key: key("vocab_size")) }

        var config = ModelConfig(
            hiddenSize: hidden, intermediateSize: try file.requiredInteger(key("feed_forward_length")),
            numHiddenLayers: try file.requiredInteger(key("block_count")), numAttentionHeads: heads, vocabSize: vocabulary)
        config.architectures = [architecture.rawValue]
        config.modelType = prefix
        config.numKeyValueHeads = kvHeads
        config.headDim = headDim
        config.rmsNormEps = try file.number(key("attention.layer_norm_rms_epsilon"))
        config.maxPositionEmbeddings = try file.integer(key("context_length"))
        config.tieWordEmbeddings = file.tensor("output.weight") == nil
        config.ropeTheta = try file.number(key("rope.freq_base"))
        config.hiddenAct = "silu"
        // The metadata has no bias flags (transformers' GGUF loader drops the biases for that reason); the tensors say.
        config.attentionBias = file.tensor("blk.0.attn_q.bias") != nil || file.tensor("blk.0.attn_output.bias") != nil
        config.mlpBias = file.tensor("blk.0.ffn_up.bias") != nil
        if let bos = try file.integer("tokenizer.ggml.bos_token_id") { config.bosTokenId = TokenIdList([bos]) }
        if let eos = try file.integer("tokenizer.ggml.eos_token_id") { config.eosTokenId = TokenIdList([eos]) }

        let scalingType = try file.string(key("rope.scaling.type"))
        let factor = try file.number(key("rope.scaling.factor")) ?? file.number(key("rope.scale_linear"))
        switch scalingType {
        case nil where factor != nil, "linear"?:
            guard let factor else { throw GGUFError.missingKey(file: path, key: key("rope.scaling.factor")) }
            if factor != 1 { config.ropeScaling = RopeScalingJSON(ropeType: "linear", factor: factor) }
        case nil, "none"?:
            break
        case let other?:
            throw GGUFError.invalidValue(file: path, key: key("rope.scaling.type"),
                                         detail: "rope scaling '\(other)' is not supported (none, linear)")
        }
        do { try config.validate(file: path) } catch let error as ModelConfigError {
            throw GGUFError.invalidValue(file: path, key: prefix, detail: "\(error)")
        }
        return config
    }
}
