import Foundation

extension LlamaModel {
    /// Applies a loaded PEFT adapter. An adapter that records `base_model_fingerprint` is refused unless it equals
    /// this model's fingerprint: the shapes may agree by chance across models while the adapter is meaningless.
    /// Applied to every token, as PEFT applies it.
    public func apply(_ adapter: PEFTAdapter, scale: Float = 1, mode: LoRAMode = .unmerged) throws -> AppliedAdapterID {
        try checkFits(adapter)
        return try applyLoRA(adapter.layers, scale: scale, mode: mode, source: adapter.directory.path)
    }

    /// Throws `AdapterError.baseModelMismatch` when the adapter was made for another base model.
    public func checkFits(_ adapter: PEFTAdapter) throws {
        if let recorded = adapter.config.baseModelFingerprint, recorded != fingerprint {
            throw AdapterError.baseModelMismatch(
                file: adapter.directory.appendingPathComponent(PEFTAdapter.configFile).path,
                expected: fingerprint, found: recorded)
        }
    }
}
