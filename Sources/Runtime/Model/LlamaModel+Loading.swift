import Foundation

extension LlamaModel {
    /// Builds the model from its config and weights, checking every tensor's presence and shape. `rope` overrides the
    /// rotary settings the config resolves to (a GGUF file can carry per-frequency factors as a tensor); `precision`
    /// says whether quantized GGUF matrices stay quantized.
    static func load(config: ModelConfig, weights: some ModelWeightSource, configFile: String,
                     rope: RopeParameters? = nil, precision: WeightPrecision = .float32) throws -> LlamaModel {
        let architecture = try config.architecture(file: configFile)
        let hidden = config.hiddenSize, intermediate = config.intermediateSize
        let headDim = config.headDimension
        let qWidth = config.numAttentionHeads * headDim, kvWidth = config.keyValueHeads * headDim
        let qkvBias = try config.hasQKVBias(file: configFile)
        let oBias = try config.hasOutputProjectionBias(file: configFile)

        func tensor(_ name: String, _ shape: [Int]) throws -> FloatBuffer {
            try weights.floatBuffer(name, expectedShape: shape)
        }
        func matrix(_ name: String, out outFeatures: Int, in inFeatures: Int) throws -> WeightMatrix {
            try weights.matrix(name, outFeatures: outFeatures, inFeatures: inFeatures, precision: precision)
        }
        func linear(_ name: String, in inFeatures: Int, out outFeatures: Int, bias: Bool) throws -> Linear {
            Linear(name: name, weight: try matrix(name + ".weight", out: outFeatures, in: inFeatures),
                   bias: bias ? try tensor(name + ".bias", [outFeatures]) : nil)
        }

        let embed = try matrix("model.embed_tokens.weight", out: config.vocabSize, in: hidden)
        var layers: [DecoderLayer] = []
        for i in 0..<config.numHiddenLayers {
            let prefix = "model.layers.\(i)"
            layers.append(DecoderLayer(
                inputLayerNorm: try tensor("\(prefix).input_layernorm.weight", [hidden]),
                qProj: try linear("\(prefix).self_attn.q_proj", in: hidden, out: qWidth, bias: qkvBias),
                kProj: try linear("\(prefix).self_attn.k_proj", in: hidden, out: kvWidth, bias: qkvBias),
                vProj: try linear("\(prefix).self_attn.v_proj", in: hidden, out: kvWidth, bias: qkvBias),
                oProj: try linear("\(prefix).self_attn.o_proj", in: qWidth, out: hidden, bias: oBias),
                postAttentionLayerNorm: try tensor("\(prefix).post_attention_layernorm.weight", [hidden]),
                gateProj: try linear("\(prefix).mlp.gate_proj", in: hidden, out: intermediate, bias: config.hasMLPBias),
                upProj: try linear("\(prefix).mlp.up_proj", in: hidden, out: intermediate, bias: config.hasMLPBias),
                downProj: try linear("\(prefix).mlp.down_proj", in: intermediate, out: hidden, bias: config.hasMLPBias)))
        }
        let norm = try tensor("model.norm.weight", [hidden])
        // Tied embeddings: transformers reuses embed_tokens as lm_head even if a checkpoint also stores lm_head.
        let lmHead = config.tiesWordEmbeddings ? embed : try matrix("lm_head.weight", out: config.vocabSize, in: hidden)
        return LlamaModel(config: config, architecture: architecture, embedTokens: embed, layers: layers,
                          finalNorm: norm, lmHead: lmHead, attentionWindow: try config.attentionWindow(file: configFile),
                          rope: try rope ?? config.rope(file: configFile),
                          fingerprint: fingerprint(config: config, architecture: architecture, weights: weights))
    }

    /// See `LlamaModel.fingerprint`: shape-defining config fields, then every stored tensor's name and shape, sorted.
    static func fingerprint(config: ModelConfig, architecture: Architecture, weights: some ModelWeightSource) -> String {
        var hasher = SHA256()
        let fields: [(String, String)] = [
            ("architecture", architecture.rawValue), ("hidden_size", "\(config.hiddenSize)"),
            ("intermediate_size", "\(config.intermediateSize)"), ("num_hidden_layers", "\(config.numHiddenLayers)"),
            ("num_attention_heads", "\(config.numAttentionHeads)"), ("num_key_value_heads", "\(config.keyValueHeads)"),
            ("head_dim", "\(config.headDimension)"), ("vocab_size", "\(config.vocabSize)"),
            ("tie_word_embeddings", "\(config.tiesWordEmbeddings)"),
        ]
        for (key, value) in fields { hasher.update("\(key)=\(value)\n") }
        for name in weights.tensorNames.sorted() {
            let shape = weights.shape(of: name) ?? []
            hasher.update("\(name):\(shape.map(String.init).joined(separator: ","))\n")
        }
        return hasher.finalize()
    }

    /// Number of parameters (tied embeddings counted once).
    public var parameterCount: Int {
        func elements(_ matrix: WeightMatrix) -> Int { matrix.inFeatures * matrix.outFeatures }
        var count = elements(embedTokens) + finalNorm.count + (lmHead === embedTokens ? 0 : elements(lmHead))
        for layer in layers {
            count += layer.inputLayerNorm.count + layer.postAttentionLayerNorm.count
            for linear in layer.linears { count += linear.inFeatures * linear.outFeatures + (linear.bias?.count ?? 0) }
        }
        return count
    }

    /// Parameters of the embedding, lm_head and linear matrices by the type they are kept in ("F32", "Q4_1", …),
    /// and the bytes those matrices take in memory.
    public var matrixStorage: (parametersByType: [String: Int], bytes: Int) {
        var matrices = [embedTokens] + layers.flatMap { $0.linears.map(\.stored) }
        if lmHead !== embedTokens { matrices.append(lmHead) }
        var parameters: [String: Int] = [:], bytes = 0
        for matrix in matrices {
            parameters[matrix.storageType, default: 0] += matrix.inFeatures * matrix.outFeatures
            bytes += matrix.byteCount
        }
        return (parameters, bytes)
    }
}
