import Foundation
import Runtime

/// A teleported adapter: one LoRA per targeted layer (A = U, B = W·Vᵀ, scaling 1) for one base model.
public struct TeleportedAdapter: Sendable {
    public var layers: [String: LoRAWeights]
    public let rank: Int
    /// Module-name suffixes the adapter patches (PEFT `target_modules`).
    public let targetModules: [String]
    public let modelFingerprint: String
    /// Which tokens it acts on (the generator spec's `patch_positions`).
    public let scope: LoRAScope
    /// The decoding rule it is used with (the generator spec's `veto_ratio`), if any.
    public let veto: TokenVeto?
    /// `TeleLoRAPackage.contentHash` of the generator that made it.
    public let generatorHash: String
    public var report: TeleportReport

    /// PEFT's view: `lora_alpha = r` so that PEFT's scaling `alpha / r` is 1.
    public func peftConfig(baseModel: String?) -> PEFTAdapterConfig {
        var config = PEFTAdapterConfig(r: rank, loraAlpha: Double(rank), targetModules: targetModules, baseModelNameOrPath: baseModel)
        config.baseModelFingerprint = modelFingerprint
        return config
    }

    /// The scope and rule recorded beside PEFT's keys.
    public var guardKeys: GuardAdapterKeys { GuardAdapterKeys(scope: scope, veto: veto) }

    /// Writes the adapter in PEFT layout (adapter_config.json + adapter_model.safetensors).
    public func save(to directory: URL, baseModel: String? = nil) throws {
        try PEFTAdapter.save(layers: layers, config: peftConfig(baseModel: baseModel), extraConfig: guardKeys.configEntries,
                             to: directory)
    }
}
