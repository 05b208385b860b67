import Foundation

/// `adapter_config.json` of a PEFT LoRA adapter (the fields this runtime honours).
public struct PEFTAdapterConfig: Codable, Sendable, Equatable {
    public var peftType: String?
    public var r: Int
    public var loraAlpha: Double?
    public var useRslora: Bool?
    public var useDora: Bool?
    public var targetModules: TargetModules?
    public var fanInFanOut: Bool?
    public var bias: String?
    public var rankPattern: [String: Int]?
    public var alphaPattern: [String: Double]?
    public var modulesToSave: [String]?
    public var baseModelNameOrPath: String?
    public var taskType: String?
    /// Written by TeleGuard: the fingerprint of the base model the adapter was made for.
    public var baseModelFingerprint: String?
    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type", r, loraAlpha = "lora_alpha", useRslora = "use_rslora", useDora = "use_dora"
        case targetModules = "target_modules", fanInFanOut = "fan_in_fan_out", bias
        case rankPattern = "rank_pattern", alphaPattern = "alpha_pattern", modulesToSave = "modules_to_save"
        case baseModelNameOrPath = "base_model_name_or_path", taskType = "task_type"
        case baseModelFingerprint = "base_model_fingerprint"
    }

    /// `target_modules` is a list of module-name suffixes or a single regular expression.
    public enum TargetModules: Codable, Sendable, Equatable {
        case names([String])
        case pattern(String)
        public init(from decoder: Swift.Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let list = try? container.decode([String].self) { self = .names(list) } else { self = .pattern(try container.decode(String.self)) }
        }
        public func encode(to encoder: Swift.Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .names(let list): try container.encode(list)
            case .pattern(let pattern): try container.encode(pattern)
            }
        }
    }

    public init(r: Int, loraAlpha: Double, targetModules: [String], baseModelNameOrPath: String? = nil) {
        peftType = "LORA"
        self.r = r
        self.loraAlpha = loraAlpha
        useRslora = false
        self.targetModules = .names(targetModules)
        fanInFanOut = false
        bias = "none"
        self.baseModelNameOrPath = baseModelNameOrPath
        taskType = "CAUSAL_LM"
    }

    /// PEFT's `scaling`: `alpha / r`, or `alpha / √r` with rsLoRA; `alpha_pattern` / `rank_pattern` override per module.
    func scaling(module: String, rank: Int) -> Float {
        let alpha = Self.patternValue(alphaPattern, module: module) ?? loraAlpha ?? Double(r)
        let useRS = useRslora ?? false
        return Float(useRS ? alpha / Double(rank).squareRoot() : alpha / Double(rank))
    }

    /// PEFT matches pattern keys against the end of the module name (`.*\.KEY$`).
    static func patternValue<V>(_ pattern: [String: V]?, module: String) -> V? {
        guard let pattern else { return nil }
        for (key, value) in pattern.sorted(by: { $0.key.count > $1.key.count })
        where module == key || module.hasSuffix("." + key) {
            return value
        }
        return nil
    }
}

/// A PEFT LoRA adapter loaded from a directory (`adapter_config.json` + `adapter_model.safetensors`).
public struct PEFTAdapter: Sendable {
    public let directory: URL
    public let config: PEFTAdapterConfig
    /// adapter_config.json as read, for keys other tools record beside PEFT's (PEFT ignores keys it does not know).
    public let configData: Data
    /// Per-layer factors keyed by the base model's module name (`model.layers.0.self_attn.q_proj`).
    public let layers: [String: LoRAWeights]

    public var name: String { directory.lastPathComponent }
    public var configURL: URL { directory.appendingPathComponent(Self.configFile) }

    public init(directory: URL, config: PEFTAdapterConfig, configData: Data = Data(), layers: [String: LoRAWeights]) {
        self.directory = directory
        self.config = config
        self.configData = configData
        self.layers = layers
    }

    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"

    public static func load(from directory: URL) throws -> PEFTAdapter {
        let configURL = directory.appendingPathComponent(configFile)
        let configData: Data
        do { configData = try Data(contentsOf: configURL) } catch {
            throw AdapterError.unreadable(file: configURL.path, detail: "missing or unreadable (\(error.localizedDescription))")
        }
        let config: PEFTAdapterConfig
        do { config = try JSONDecoder().decode(PEFTAdapterConfig.self, from: configData) } catch let error as DecodingError {
            throw AdapterError.malformedConfig(file: configURL.path, field: ModelConfig.describeField(error), detail: ModelConfig.describe(error))
        }
        if let type = config.peftType, type.uppercased() != "LORA" {
            throw AdapterError.unsupported(file: configURL.path, field: "peft_type", detail: "'\(type)'")
        }
        if config.useDora == true { throw AdapterError.unsupported(file: configURL.path, field: "use_dora", detail: "DoRA") }
        if let bias = config.bias, bias != "none" {
            throw AdapterError.unsupported(file: configURL.path, field: "bias", detail: "trained biases ('\(bias)')")
        }
        if let saved = config.modulesToSave, !saved.isEmpty {
            throw AdapterError.unsupported(file: configURL.path, field: "modules_to_save", detail: "fully trained modules \(saved)")
        }
        guard config.r > 0 else { throw AdapterError.malformedConfig(file: configURL.path, field: "r", detail: "must be positive, found \(config.r)") }

        var weightsURL = directory.appendingPathComponent(weightsFile)
        if !FileManager.default.fileExists(atPath: weightsURL.path) {
            let compressed = directory.appendingPathComponent(weightsFile + ".zst")
            if FileManager.default.fileExists(atPath: compressed.path) { weightsURL = compressed }
        }
        let file = try SafetensorsFile(url: weightsURL)
        var factorsA: [String: String] = [:], factorsB: [String: String] = [:]
        for tensor in file.tensors.keys {
            guard let (module, isA) = moduleName(ofTensor: tensor) else {
                throw AdapterError.unexpectedTensor(file: weightsURL.path, tensor: tensor)
            }
            if isA { factorsA[module] = tensor } else { factorsB[module] = tensor }
        }
        guard !factorsA.isEmpty || !factorsB.isEmpty else { throw AdapterError.noTensors(file: weightsURL.path) }
        var layers: [String: LoRAWeights] = [:]
        for (module, tensorA) in factorsA {
            guard let tensorB = factorsB[module] else { throw AdapterError.missingFactor(file: weightsURL.path, tensor: tensorA) }
            let shapeA = file.tensors[tensorA]?.shape ?? [], shapeB = file.tensors[tensorB]?.shape ?? []
            guard shapeA.count == 2, shapeB.count == 2, shapeA[0] == shapeB[1] else {
                throw AdapterError.shapeMismatch(file: weightsURL.path, tensor: tensorB,
                                                 expected: [shapeB.first ?? 0, shapeA.first ?? 0], found: shapeB)
            }
            let rank = shapeA[0]
            // fan_in_fan_out only changes how PEFT merges into Conv1D weights stored [in, out]; the factors keep the
            // nn.Linear layout, and Llama-family layers are nn.Linear, so it does not change the update here.
            layers[module] = LoRAWeights(a: try file.floatBuffer(tensorA), b: try file.floatBuffer(tensorB), rank: rank,
                                         inFeatures: shapeA[1], outFeatures: shapeB[0],
                                         scaling: config.scaling(module: module, rank: rank))
        }
        if let orphan = factorsB.keys.first(where: { factorsA[$0] == nil }) {
            throw AdapterError.missingFactor(file: weightsURL.path, tensor: factorsB[orphan] ?? orphan)
        }
        return PEFTAdapter(directory: directory, config: config, configData: configData, layers: layers)
    }

    /// `base_model.model.model.layers.0.self_attn.q_proj.lora_A[.default].weight` → (`model.layers.0.self_attn.q_proj`, true).
    static func moduleName(ofTensor tensor: String) -> (String, Bool)? {
        var parts = tensor.split(separator: ".").map(String.init)
        guard parts.last == "weight" else { return nil }
        parts.removeLast()
        if parts.last != "lora_A" && parts.last != "lora_B", parts.count >= 2,
           ["lora_A", "lora_B"].contains(parts[parts.count - 2]) {
            parts.removeLast() // adapter name, as in `lora_A.default.weight`
        }
        guard let factor = parts.popLast(), factor == "lora_A" || factor == "lora_B" else { return nil }
        var module = parts.joined(separator: ".")
        for prefix in ["base_model.model.", "base_model."] where module.hasPrefix(prefix) {
            module.removeFirst(prefix.count)
            break
        }
        return (module, factor == "lora_A")
    }

    /// Writes the adapter in PEFT layout so PEFT and other runtimes can load it. `extraConfig` adds keys of another
    /// tool to adapter_config.json (JSON values: strings, numbers, booleans).
    public static func save(layers: [String: LoRAWeights], config: PEFTAdapterConfig, extraConfig: [String: Any] = [:],
                            to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var tensors: [(name: String, shape: [Int], values: [Float])] = []
        for (module, weights) in layers.sorted(by: { $0.key < $1.key }) {
            tensors.append(("base_model.model.\(module).lora_A.weight", [weights.rank, weights.inFeatures], weights.a.array))
            tensors.append(("base_model.model.\(module).lora_B.weight", [weights.outFeatures, weights.rank], weights.b.array))
        }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent(weightsFile))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var data = try encoder.encode(config)
        if !extraConfig.isEmpty {
            var object = (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
            object.merge(extraConfig) { _, extra in extra }
            data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        }
        try data.write(to: directory.appendingPathComponent(configFile), options: .atomic)
    }
}
