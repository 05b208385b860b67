import ArgumentParser
import Foundation
import Runtime

/// Options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model directory (Hugging Face layout). Default: the shipped demo model, models/demo.")
    var model: String?

    @Option(name: .long, help: "CPU threads for matrix products.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads > 0 else { throw ValidationError("--threads must be at least 1, found \(threads)") }
    }

    /// The model directory: --model, else models/demo beside the working directory or the installed binary.
    func modelDirectory() throws -> URL {
        if let model { return URL(fileURLWithPath: model) }
        var candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("models/demo")]
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(directory.appendingPathComponent("models/demo"))
            directory.deleteLastPathComponent()
        }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("config.json").path) }) else {
            throw ValidationError("no --model given and the demo model (models/demo) was not found; pass --model DIR")
        }
        return found
    }

    func load() throws -> LanguageModel {
        BLAS.setThreadCount(threads)
        return try LanguageModel.load(directory: try modelDirectory())
    }
}

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
