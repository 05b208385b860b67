import ArgumentParser
import Foundation
import Guard
import Runtime

/// Options every command that guards a model shares.
struct GuardOptions: ParsableArguments {
    @Option(name: .customLong("guard"),
            help: "off, teleport (adapt the TeleLoRA generator to this model), or a PEFT adapter directory. Default: teleport when adapters/telelora is shipped.")
    var guardValue: String?

    @Option(name: .long, help: "Scale of the guard adapter (1: as made; 0: present but inactive).")
    var guardScale: Float = 1

    @Option(name: [.customLong("guard-rule"), .customLong("guard-veto")],
            help: ArgumentHelp("The guard's decoding rule: auto (default: repair wherever the patch acts on generated tokens only, as the shipped generator's does; else as recorded), repair[:RATIO] (the original model writes; a token the patch gives under RATIO of its probability — default 0.05 — is replaced by the patch's choice and the answer goes on; 3 repairs within 8 tokens end it; with a teleported guard the patch scale is first calibrated on the model's own benign answers), recorded (as the generator or adapter records it: the shipped generator's veto), off (the patched model writes the answer), or a veto [veto:]RATIO[/WINDOW/EVIDENCE] that ends the answer, e.g. 0.05/12/1e-8.",
                               valueName: "rule"))
    var guardRule: String = "auto"

    @Option(name: .long, help: "TeleLoRA generator directory (spec.json, generator.safetensors, probes.json). Default: the shipped adapters/telelora.")
    var generator: String?

    @Option(name: .long, help: "Where teleported adapters are cached. Default: ${XDG_CACHE_HOME:-~/.cache}/teleguard/teleported.")
    var teleportCache: String?

    @Flag(name: .long, help: "Teleport afresh instead of using or filling the teleport cache.")
    var noTeleportCache = false

    func validate() throws {
        guard guardScale.isFinite else { throw ValidationError("--guard-scale must be a finite number") }
        _ = try ruleChoice()
    }

    func ruleChoice() throws -> RuleChoice {
        do { return try RuleChoice.parse(guardRule, option: "--guard-rule") } catch let error as GenerationError {
            throw ValidationError(error.description)
        }
    }

    /// The generator directory: --generator, else the shipped one; nil when neither exists.
    func generatorDirectory() -> URL? { Self.generatorDirectory(explicit: generator) }

    static func generatorDirectory(explicit: String?) -> URL? {
        if let explicit { return URL(fileURLWithPath: explicit) }
        return TeleLoRAPackage.locateShipped(workingDirectory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                                             executable: URL(fileURLWithPath: CommandLine.arguments[0]))
    }

    func policy() throws -> GuardPolicy {
        switch guardValue ?? "teleport" {
        case "off": return .off
        case "teleport":
            guard let directory = generatorDirectory() else { throw Self.generatorMissing }
            return .teleport(generator: directory)
        case let path:
            return .adapter(URL(fileURLWithPath: path))
        }
    }

    static let generatorMissing = GuardError.generatorMissing(searched: "beside the working directory or the teleguard binary")

    var cache: TeleportCache? {
        if noTeleportCache { return nil }
        return TeleportCache(directory: teleportCache.map { URL(fileURLWithPath: $0) } ?? TeleportCache.defaultDirectory())
    }

    /// Applies the chosen guard to the model, reporting teleport progress on standard error.
    func activate(_ policy: GuardPolicy, on languageModel: LanguageModel, mode: LoRAMode = .merged) throws -> (ModelGuard, GuardActivation) {
        let modelGuard = ModelGuard(languageModel: languageModel, mode: mode, cache: cache)
        let activation = try modelGuard.activate(policy, scale: guardScale, rule: try ruleChoice(), progress: ProgressLine.teleport)
        ProgressLine.finish(activation)
        return (modelGuard, activation)
    }
}

/// Teleport progress on standard error: one line rewritten in place on a terminal, a summary line otherwise.
enum ProgressLine {
    static let isTerminal = isatty(STDERR_FILENO) != 0

    static func teleport(_ progress: TeleportProgress) {
        guard isTerminal else { return }
        FileHandle.standardError.write(Data("\rteleport: \(progress)   ".utf8))
    }

    static func finish(_ activation: GuardActivation) {
        guard let report = activation.teleport else { return }
        if isTerminal { FileHandle.standardError.write(Data("\r".utf8)) }
        let line = report.cached
            ? String(format: "guard: teleported adapter from cache (%d layers, %.3f s)\n", report.layers, report.totalSeconds)
            : String(format: "guard: teleported %d layers in %.3f s (probes %.3f s, %d tokens; generator %.3f s)\n",
                     report.layers, report.totalSeconds, report.probeSeconds, report.probeTokens, report.generatorSeconds)
        FileHandle.standardError.write(Data(line.utf8))
        if let calibration = activation.calibration {
            let seconds = String(format: " (measured in %.2f s)", calibration.seconds)
            FileHandle.standardError.write(Data("guard: \(calibration)\(seconds)\n".utf8))
        }
    }
}
