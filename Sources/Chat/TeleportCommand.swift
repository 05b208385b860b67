import ArgumentParser
import Foundation
import Guard
import Runtime

struct TeleportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teleport",
        abstract: "Teleport the TeleLoRA generator onto a model and write the adapter in PEFT layout.",
        discussion: "Runs the generator's benign probe prompts through the model (each as one user turn through the chat template; as raw text for a base model without one), keeps a bounded random sample of each targeted layer's input rows, and turns rows and weights into one LoRA per layer (A = U, B = W·Vᵀ, lora_alpha = r). The adapter records the base model's fingerprint; PEFT loads it as is.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Directory to write the adapter to (adapter_config.json, adapter_model.safetensors).")
    var out: String

    @Option(name: .long, help: "TeleLoRA generator directory. Default: the shipped adapters/telelora.")
    var generator: String?

    @Option(name: .long, help: "Rows kept per layer input. Default: the generator's activation_rows.")
    var rows: Int?

    @Option(name: .long, help: "Stop probing after this many prompt tokens (probes in a seeded random order). Default: every probe, as in training.")
    var probeTokens: Int?

    @Option(name: .long, help: "Seed of the row sampling.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "Print the teleport report as JSON.")
    var json = false

    func validate() throws {
        if let rows, rows <= 0 { throw ValidationError("--rows must be positive, found \(rows)") }
        if let probeTokens, probeTokens <= 0 { throw ValidationError("--probe-tokens must be positive, found \(probeTokens)") }
    }

    func run() throws {
        guard let directory = GuardOptions.generatorDirectory(explicit: generator) else { throw GuardOptions.generatorMissing }
        let package = try TeleLoRAPackage.load(directory: directory)
        let languageModel = try modelOptions.load()
        let adapter = try Teleporter(package: package, rowsPerLayer: rows, probeTokenBudget: probeTokens, seed: seed)
            .teleport(languageModel, progress: ProgressLine.teleport)
        let outURL = URL(fileURLWithPath: out)
        try adapter.save(to: outURL, baseModel: languageModel.location.path)
        let report = adapter.report
        if json {
            let data = try JSONEncoder().encode(report)
            var object = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
            object["out"] = outURL.path
            object["model_fingerprint"] = adapter.modelFingerprint
            object["generator_hash"] = adapter.generatorHash
            object["rank"] = adapter.rank
            try printJSON(object)
        } else {
            if ProgressLine.isTerminal { FileHandle.standardError.write(Data("\r".utf8)) }
            print("adapter     \(outURL.path) (rank \(adapter.rank), \(report.layers) layers, PEFT layout)")
            print("model       \(languageModel.location.path) (fingerprint \(adapter.modelFingerprint.prefix(16))…)")
            print(String(format: "probes      %d prompts, %d tokens (%@), %.3f s", report.probePrompts, report.probeTokens,
                         report.probeEncoding ?? "chat_template", report.probeSeconds))
            print("rows        \(report.rowsPerLayer) per input, \(report.tappedInputs) inputs, \(formatBytes(report.reservoirBytes)) held")
            print(String(format: "generator   %.3f s (scratch %@, %@ kernels)", report.generatorSeconds,
                         formatBytes(report.generatorScratchBytes), report.generatorKernels ?? "unknown"))
            print(String(format: "total       %.3f s", report.totalSeconds))
        }
    }
}
