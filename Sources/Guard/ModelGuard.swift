import Foundation
import Runtime

/// What an activation did.
public struct GuardActivation: Sendable {
    public enum Source: String, Sendable {
        case none, teleported, teleportCache = "teleport-cache", adapterDirectory = "adapter-directory"
    }
    public let policy: GuardPolicy
    public let scale: Float
    public let source: Source
    /// Set when the adapter was teleported or taken from the teleport cache.
    public let teleport: TeleportReport?
    /// Where the adapter lives on disk (the adapter directory or the cache entry), if anywhere.
    public let adapterDirectory: URL?
    public let seconds: Double
    /// The patch scale chosen for this model under the repair rule (nil: not calibrated).
    public var calibration: GuardCalibration?
}

/// How the guard decodes: by the repair rule wherever the patch acts on generated tokens only (`automatic`), by the
/// rule its generator spec or adapter config records, with no rule (the patched model writes the answer), or by a
/// rule chosen here — the repair rule, or a veto.
public enum RuleChoice: Sendable, CustomStringConvertible, Equatable {
    case automatic
    case recorded
    case none
    case rule(any DecodingRule)

    /// The rule in force given the one recorded and the patch's scope (a rule needs a patch scoped to generated tokens).
    public func resolve(_ recorded: (any DecodingRule)?, scope: LoRAScope) -> (any DecodingRule)? {
        switch self {
        case .automatic: return scope == .generatedTokens ? (try? RepairRule()) : recorded
        case .recorded: return recorded
        case .none: return nil
        case .rule(let rule): return rule
        }
    }

    /// `auto`, `recorded`, `off`, `repair[:RATIO]`, or a veto as `[veto:]RATIO[/WINDOW/EVIDENCE]` (window 1 and evidence =
    /// ratio when left out); anything else, or a rule out of bounds, is an error naming `option`.
    public static func parse(_ text: String, option: String) throws -> RuleChoice {
        func invalid() -> GenerationError {
            .invalidParameter(field: option, detail: "expected auto, recorded, off, repair[:RATIO] or [veto:]RATIO[/WINDOW/EVIDENCE], found '\(text)'")
        }
        switch text {
        case "auto": return .automatic
        case "recorded": return .recorded
        case "off": return .none
        case "repair": return .rule(try RepairRule())
        default: break
        }
        do {
            if text.hasPrefix("repair:") {
                guard let ratio = Double(text.dropFirst("repair:".count)) else { throw invalid() }
                return .rule(try RepairRule(ratio: ratio, field: "ratio"))
            }
            let veto = text.hasPrefix("veto:") ? String(text.dropFirst("veto:".count)) : text
            let fields = veto.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 1 || fields.count == 3, let ratio = Double(fields[0]),
                  fields.count == 1 || (Int(fields[1]) != nil && Double(fields[2]) != nil) else { throw invalid() }
            let window = fields.count == 3 ? Int(fields[1])! : 1
            let evidence = fields.count == 3 ? Double(fields[2])! : nil
            return .rule(try TokenVeto(ratio: ratio, window: window, evidence: evidence, fieldPrefix: ""))
        } catch GenerationError.invalidParameter(let part, let detail) where part != option {
            throw GenerationError.invalidParameter(field: option, detail: "'\(text)': \(part) \(detail)")
        }
    }

    public var description: String {
        switch self {
        case .automatic: return "auto"
        case .recorded: return "recorded"
        case .none: return "off"
        case .rule(let rule): return rule.description
        }
    }

    public static func == (lhs: RuleChoice, rhs: RuleChoice) -> Bool { lhs.description == rhs.description }
}

/// Owns the guard adapter applied to one model. Switching policy or scale is a hot patch — the model's lock makes
/// it take effect between two forward passes (two tokens) — never a reload; `off` restores the original weights
/// bit for bit.
public final class ModelGuard: @unchecked Sendable {
    public let languageModel: LanguageModel
    public let mode: LoRAMode
    public let cache: TeleportCache?
    private let lock = NSLock()
    private var applied: AppliedAdapterID?
    private var currentPolicy: GuardPolicy = .off
    private var currentScale: Float = 1
    /// The calibrated factor on the adapter's scale (1 when not calibrated).
    private var calibratedFactor: Float = 1
    /// How a repair guard is calibrated on each model; nil turns calibration off.
    public var calibrator: ((TeleLoRAPackage) -> GuardCalibrator)? = { GuardCalibrator(probes: $0.probes.prompts) }

    /// `mode`: merged costs nothing per token; unmerged makes scale changes cheaper. An adapter that acts on generated
    /// tokens only (the teleported guard of a generator trained so) is always applied unmerged, since merged weights
    /// would serve the prompt too. `cache`: nil disables caching.
    public init(languageModel: LanguageModel, mode: LoRAMode = .merged,
                cache: TeleportCache? = TeleportCache(directory: TeleportCache.defaultDirectory())) {
        self.languageModel = languageModel
        self.mode = mode
        self.cache = cache
    }

    public var policy: GuardPolicy { lock.withLock { currentPolicy } }
    public var scale: Float { lock.withLock { currentScale } }

    /// Switches to `policy` at `scale`, decoding by the rule `rule` chooses. An adapter directory or a cached
    /// teleport replaces the active guard in one step; a fresh teleport first removes the active guard, because the
    /// generator must see the unguarded model.
    @discardableResult
    /// `control`: teleport a control patch instead (never cached), for measuring the guard against it.
    public func activate(_ policy: GuardPolicy, scale: Float = 1, rule: RuleChoice = .automatic, control: PatchControl? = nil,
                         progress: (TeleportProgress) -> Void = { _ in }) throws -> GuardActivation {
        guard scale.isFinite else { throw GuardError.invalidScale(scale) }
        let start = Date()
        let model = languageModel.model
        return try lock.withLock {
            switch policy {
            case .off:
                if let applied { try model.removeAdapter(applied) }
                applied = nil
                currentPolicy = .off
                currentScale = scale
                calibratedFactor = 1
                return GuardActivation(policy: .off, scale: scale, source: .none, teleport: nil, adapterDirectory: nil,
                                       seconds: Date().timeIntervalSince(start))
            case .adapter(let directory):
                let adapter = try PEFTAdapter.load(from: directory)
                let keys = try GuardAdapterKeys(adapter)
                try model.checkFits(adapter)
                applied = try model.replaceLoRA(applied, with: adapter.layers, scale: scale, mode: mode(for: keys.scope),
                                                scope: keys.scope, rule: rule.resolve(keys.veto, scope: keys.scope), source: directory.path)
                currentPolicy = policy
                currentScale = scale
                calibratedFactor = 1
                return GuardActivation(policy: policy, scale: scale, source: .adapterDirectory, teleport: nil,
                                       adapterDirectory: directory, seconds: Date().timeIntervalSince(start))
            case .teleport(let generatorDirectory):
                let package = try TeleLoRAPackage.load(directory: generatorDirectory)
                let weightsDigest = try cache.map { try $0.weightsDigest(of: languageModel) }
                if control == nil, let cache, let weightsDigest,
                   let cached = cache.load(weightsDigest: weightsDigest, modelFingerprint: languageModel.fingerprint,
                                           generatorHash: package.contentHash) {
                    let spec = package.generator.spec
                    let resolved = rule.resolve(spec.veto, scope: spec.patchPositions)
                    applied = try model.replaceLoRA(applied, with: cached.layers, scale: scale, mode: mode(for: spec.patchPositions),
                                                    scope: spec.patchPositions, rule: resolved, source: cached.directory.path)
                    currentPolicy = policy
                    currentScale = scale
                    let calibration = try calibrate(resolved, package: package, entry: cached.directory)
                    let seconds = Date().timeIntervalSince(start)
                    let report = TeleportReport(probePrompts: 0, probeTokens: 0, rowsPerLayer: 0, layers: cached.layers.count,
                                                tappedInputs: 0, reservoirBytes: 0, generatorScratchBytes: 0, probeSeconds: 0,
                                                generatorSeconds: 0, totalSeconds: seconds, cached: true)
                    return GuardActivation(policy: policy, scale: scale, source: .teleportCache, teleport: report,
                                           adapterDirectory: cached.directory, seconds: seconds, calibration: calibration)
                }
                if let applied { try model.removeAdapter(applied) }
                applied = nil
                currentPolicy = .off
                var teleporter = Teleporter(package: package)
                if control == .noiseInputs { teleporter.noiseInputSeed = 12_345 }
                var adapter = try teleporter.teleport(languageModel, progress: progress)
                if control == .randomSameNorm { adapter = PatchControl.randomSameNorm(like: adapter, seed: 12_345) }
                if control == .quantizedReference { adapter.layers = try PatchControl.quantizationPatch(of: model) }
                let stored = control != nil ? nil
                    : try weightsDigest.flatMap { try cache?.store(adapter, weightsDigest: $0, baseModel: languageModel.location.path) }
                let resolved = rule.resolve(adapter.veto, scope: adapter.scope)
                applied = try model.applyLoRA(adapter.layers, scale: scale, mode: mode(for: adapter.scope), scope: adapter.scope,
                                              rule: resolved, source: "teleported adapter")
                currentPolicy = policy
                currentScale = scale
                let calibration = try calibrate(resolved, package: package, entry: stored)
                return GuardActivation(policy: policy, scale: scale, source: .teleported, teleport: adapter.report,
                                       adapterDirectory: stored, seconds: Date().timeIntervalSince(start), calibration: calibration)
            }
        }
    }

    private func mode(for scope: LoRAScope) -> LoRAMode { scope == .generatedTokens ? .unmerged : mode }

    /// Under the repair rule, the patch scale for this model: read from the teleport cache entry when it was measured
    /// with the same settings, else measured (`GuardCalibrator`) and stored there. Leaves the adapter at the user's
    /// scale times the calibrated one. Called with the lock held.
    private func calibrate(_ rule: (any DecodingRule)?, package: TeleLoRAPackage, entry: URL?) throws -> GuardCalibration? {
        calibratedFactor = 1
        guard let repair = rule as? RepairRule, let applied, var calibrator = calibrator?(package) else { return nil }
        calibrator.ratio = repair.ratio
        let record = entry?.appendingPathComponent(GuardCalibration.fileName)
        let calibration: GuardCalibration
        if let record, let stored = GuardCalibration.load(from: record, matching: calibrator) {
            calibration = stored
        } else {
            calibration = try calibrator.calibrate(languageModel, adapter: applied)
            if let record { try? calibration.save(to: record, calibrator: calibrator) }
        }
        calibratedFactor = calibration.scale
        try languageModel.model.setScale(currentScale * calibratedFactor, for: applied)
        return calibration
    }

    /// Rescales the active guard (0 turns it off without forgetting it); a calibrated factor stays applied on top.
    public func setScale(_ scale: Float) throws {
        guard scale.isFinite else { throw GuardError.invalidScale(scale) }
        try lock.withLock {
            guard let applied else { throw GuardError.notActive }
            try languageModel.model.setScale(scale * calibratedFactor, for: applied)
            currentScale = scale
        }
    }

    /// Removes the guard; the model's weights are exactly the original again.
    public func deactivate() throws {
        try activate(.off, scale: scale)
    }
}
