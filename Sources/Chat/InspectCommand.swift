import ArgumentParser
import Foundation
import Runtime

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe a model: architecture, shape, parameter count, dtypes, memory, tokenizer and chat template; for a GGUF file also its metadata and tensor types.")

    @OptionGroup var modelOptions: ModelOptions

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    @Flag(name: .long, help: "List every tensor of a GGUF file (name, type, shape).")
    var tensors = false

    func run() throws {
        let languageModel = try modelOptions.load()
        let config = languageModel.config
        let model = languageModel.model
        let rope = model.rope
        let ropeText: String
        switch rope.scaling {
        case .none: ropeText = "theta \(rope.theta)"
        case .linear(let factor): ropeText = "theta \(rope.theta), linear ×\(factor)"
        case .llama3(let factor, let low, let high, let original):
            ropeText = "theta \(rope.theta), llama3 ×\(factor) (low \(low), high \(high), original \(original))"
        case .frequencyFactors(let factors):
            ropeText = "theta \(rope.theta), per-frequency factors (rope_freqs, \(factors.count))"
        }
        let dtypes = languageModel.parameterCountByStorageType.sorted { $0.key < $1.key }
            .map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        let weightBytes = model.parameterCount * MemoryLayout<Float>.size
        let cacheBytesPerToken = 2 * config.numHiddenLayers * config.keyValueHeads * config.headDimension * MemoryLayout<Float>.size
        var fields: [(String, Any)] = [
            ("model", languageModel.location.path),
            ("architecture", model.architecture.rawValue),
            ("parameters", model.parameterCount),
            ("layers", config.numHiddenLayers),
            ("hidden_size", config.hiddenSize),
            ("intermediate_size", config.intermediateSize),
            ("attention_heads", config.numAttentionHeads),
            ("key_value_heads", config.keyValueHeads),
            ("head_dim", config.headDimension),
            ("vocab_size", config.vocabSize),
            ("context_length", config.contextLength),
            ("rope", ropeText),
            ("tied_embeddings", config.tiesWordEmbeddings),
            ("stored_dtypes", dtypes),
            ("weight_files", languageModel.weightFiles.map(\.lastPathComponent).sorted()),
            ("weights_f32_bytes", weightBytes),
            ("kv_cache_bytes_per_token", cacheBytesPerToken),
            ("tokenizer_vocabulary", languageModel.tokenizer.vocabularySize),
            ("eos_token_ids", languageModel.eosTokenIds.sorted()),
            ("chat_template", languageModel.formatter.chatTemplate != nil),
            ("load_seconds", languageModel.loadSeconds),
        ]
        if let gguf = languageModel.gguf { fields += ggufFields(gguf) }
        if json {
            try printJSON(Dictionary(uniqueKeysWithValues: fields))
        } else {
            let width = fields.map(\.0.count).max() ?? 0
            for (key, value) in fields {
                let text: String
                switch value {
                case let table as [String: String]:
                    text = table.sorted { $0.key < $1.key }.map { "\n  \($0.key) = \($0.value)" }.joined()
                case let list as [Any] where key == "gguf_tensors": text = list.map { "\n  \($0)" }.joined()
                case let list as [Any]: text = list.map { "\($0)" }.joined(separator: ", ")
                case let bytes as Int where key.hasSuffix("bytes") || key.hasSuffix("bytes_per_token"): text = formatBytes(bytes)
                case let seconds as Double: text = String(format: "%.3f s", seconds)
                default: text = "\(value)"
                }
                print(key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + text)
            }
        }
    }
}

extension InspectCommand {
    /// A GGUF file's version, metadata (long arrays summarised) and, with --tensors, its tensor table.
    func ggufFields(_ gguf: GGUFFile) -> [(String, Any)] {
        var metadata: [String: String] = [:]
        for key in gguf.metadataKeys { metadata[key] = gguf.metadata[key]?.description }
        var fields: [(String, Any)] = [("gguf_version", Int(gguf.version)), ("gguf_alignment", gguf.alignment),
                                       ("gguf_metadata", metadata)]
        if tensors {
            fields.append(("gguf_tensors", gguf.tensors.map { "\($0.name) \($0.type) \($0.shape)" }))
        }
        return fields
    }
}

func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}
