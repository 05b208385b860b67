/// What a teleport did and what it cost.
public struct TeleportReport: Sendable, Codable, Equatable {
    public var probePrompts: Int
    public var probeTokens: Int
    /// How the probes became tokens: `chat_template` (one user turn with the generation prompt, as in training) or
    /// `raw` (the text as `tokenizer(text)` gives it, for a base model that has no chat template); nil when cached.
    public var probeEncoding: String? = nil
    /// Rows kept per tapped layer input (≤ the generator's `activation_rows`).
    public var rowsPerLayer: Int
    public var layers: Int
    /// Distinct layer inputs tapped (q/k/v and gate/up share theirs).
    public var tappedInputs: Int
    /// Bytes the activation reservoirs held (bounded by rows × width × 4 per tapped input).
    public var reservoirBytes: Int
    /// Largest working buffer of the generator's exchangeable layers (N × H × channels floats, ×2 for in and out).
    public var generatorScratchBytes: Int
    /// The generator's vector kernels on this CPU (`VectorMath.kernelName`: avx512, avx2_fma or scalar); nil when cached.
    public var generatorKernels: String? = nil
    public var probeSeconds: Double
    public var generatorSeconds: Double
    public var totalSeconds: Double
    /// True when the adapter came from the teleport cache instead of being made now.
    public var cached: Bool

    enum CodingKeys: String, CodingKey {
        case probePrompts = "probe_prompts", probeTokens = "probe_tokens", probeEncoding = "probe_encoding", rowsPerLayer = "rows_per_layer", layers
        case tappedInputs = "tapped_inputs", reservoirBytes = "reservoir_bytes", generatorScratchBytes = "generator_scratch_bytes"
        case generatorKernels = "generator_kernels"
        case probeSeconds = "probe_seconds", generatorSeconds = "generator_seconds", totalSeconds = "total_seconds", cached
    }
}
