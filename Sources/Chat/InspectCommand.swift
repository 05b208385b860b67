import ArgumentParser
import Foundation
import Runtime

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe a model: architecture, shape, parameter count, dtypes, memory, tokenizer and chat template.")

    @OptionGroup var modelOptions: ModelOptions

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let languageModel = try modelOptions.load()
        let config = languageModel.config
        let model = languageModel.model
        let rope = try config.rope(file: "config.json")
        let ropeText: String
        switch rope.scaling {
        case .none: ropeText = "theta \(rope.theta)"
        case .linear(let factor): ropeText = "theta \(rope.theta), linear ×\(factor)"
        case .llama3(let factor, let low, let high, let original):
            ropeText = "theta \(rope.theta), llama3 ×\(factor) (low \(low), high \(high), original \(original))"
        }
        let dtypes = languageModel.parameterCountByDType.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.key.rawValue): \($0.value)" }.joined(separator: ", ")
        let weightBytes = model.parameterCount * MemoryLayout<Float>.size
        let cacheBytesPerToken = 2 * config.numHiddenLayers * config.keyValueHeads * config.headDimension * MemoryLayout<Float>.size
        let fields: [(String, Any)] = [
            ("model", languageModel.directory.path),
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
        if json {
            try printJSON(Dictionary(uniqueKeysWithValues: fields))
        } else {
            let width = fields.map(\.0.count).max() ?? 0
            for (key, value) in fields {
                let text: String
                switch value {
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

func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}
