import Foundation
import Runtime

/// The keys TeleGuard records in a guard adapter's adapter_config.json beside PEFT's (PEFT ignores them and applies
/// the LoRA to every token): which tokens the patch acts on and the decoding rule it is used with.
///
///     "teleguard_patch_positions": "generated"       LoRAScope (absent: all tokens)
///     "teleguard_veto_ratio": 0.05                   TokenVeto (absent: none); window and evidence default to 1
///     "teleguard_veto_window": 12                    and the ratio
///     "teleguard_veto_evidence": 1e-8
public struct GuardAdapterKeys: Sendable, Equatable {
    public var scope: LoRAScope
    public var veto: TokenVeto?

    public init(scope: LoRAScope = .allTokens, veto: TokenVeto? = nil) {
        self.scope = scope
        self.veto = veto
    }

    /// Reads the keys of a loaded adapter; a bad value is an `AdapterError.malformedConfig` naming the key.
    public init(_ adapter: PEFTAdapter) throws {
        let file = adapter.configURL.path
        let object = (try? JSONSerialization.jsonObject(with: adapter.configData)) as? [String: Any] ?? [:]
        func number(_ key: String) throws -> Double? {
            guard let value = object[key], !(value is NSNull) else { return nil }
            // JSON true/false arrive as a boolean NSNumber subclass; its type name says so on every platform.
            guard let number = value as? NSNumber, !String(describing: type(of: number)).contains("Boolean") else {
                throw AdapterError.malformedConfig(file: file, field: key, detail: "should be a number")
            }
            return number.doubleValue
        }
        scope = .allTokens
        if let value = object["teleguard_patch_positions"], !(value is NSNull) {
            guard let name = value as? String, let found = LoRAScope(rawValue: name) else {
                throw AdapterError.malformedConfig(file: file, field: "teleguard_patch_positions",
                                                   detail: "expected one of \(LoRAScope.allCases.map(\.rawValue)), found '\(value)'")
            }
            scope = found
        }
        let ratio = try number("teleguard_veto_ratio"), window = try number("teleguard_veto_window")
        let evidence = try number("teleguard_veto_evidence")
        guard let ratio else {
            if window != nil || evidence != nil {
                let field = window != nil ? "teleguard_veto_window" : "teleguard_veto_evidence"
                throw AdapterError.malformedConfig(file: file, field: field, detail: "'\(field)' needs teleguard_veto_ratio")
            }
            veto = nil
            return
        }
        if let window, window.rounded() != window {
            throw AdapterError.malformedConfig(file: file, field: "teleguard_veto_window", detail: "should be an integer, found \(window)")
        }
        do {
            veto = try TokenVeto(ratio: ratio, window: window.map { Int($0) } ?? 1, evidence: evidence, fieldPrefix: "teleguard_veto_")
        } catch GenerationError.invalidParameter(let field, let detail) {
            throw AdapterError.malformedConfig(file: file, field: field,
                                               detail: GenerationError.invalidParameter(field: field, detail: detail).description)
        }
        guard scope == .generatedTokens else {
            throw AdapterError.malformedConfig(file: file, field: "teleguard_veto_ratio", detail: "needs teleguard_patch_positions 'generated'")
        }
    }

    /// The keys as adapter_config.json entries (`PEFTAdapter.save(extraConfig:)`); defaults are left out.
    public var configEntries: [String: Any] {
        var entries: [String: Any] = [:]
        if scope != .allTokens { entries["teleguard_patch_positions"] = scope.rawValue }
        if let veto {
            entries["teleguard_veto_ratio"] = veto.ratio
            if veto.window != 1 { entries["teleguard_veto_window"] = veto.window }
            if veto.evidence != veto.ratio { entries["teleguard_veto_evidence"] = veto.evidence }
        }
        return entries
    }
}
