/// The low-rank update of one linear layer: `ΔW = scaling · B·A` (PEFT's convention).
public struct LoRAWeights: @unchecked Sendable {
    /// `[rank × inFeatures]`
    public let a: FloatBuffer
    /// `[outFeatures × rank]`
    public let b: FloatBuffer
    public let rank: Int
    public let inFeatures: Int
    public let outFeatures: Int
    /// `lora_alpha / r`, or `lora_alpha / √r` with rsLoRA.
    public let scaling: Float

    public init(a: FloatBuffer, b: FloatBuffer, rank: Int, inFeatures: Int, outFeatures: Int, scaling: Float) {
        precondition(a.count == rank * inFeatures && b.count == outFeatures * rank, "LoRA factor sizes disagree with their shape")
        self.a = a
        self.b = b
        self.rank = rank
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.scaling = scaling
    }
}

/// How an adapter is applied to the base weights.
public enum LoRAMode: String, Sendable, CaseIterable {
    /// `y = Wx + s·B(Ax)`: weights untouched; cheap to swap or rescale.
    case unmerged
    /// `W ← W + s·BA`: no per-token cost; the original W is kept so removal restores it bit for bit.
    case merged
}

/// Which forward passes an unmerged adapter acts on.
public enum LoRAScope: String, Sendable, CaseIterable {
    /// Every token, prompt and generated (PEFT's behaviour).
    case allTokens = "all"
    /// Only tokens the model generated: the prompt is read by the base weights, and the adapter writes the answer from
    /// its second token on (the first is chosen by the prompt pass). A `DecodingRule` compares the two streams.
    case generatedTokens = "generated"
}

/// Whether adapters scoped to generated tokens act on a forward pass: not on `.prompt` passes (the prompt, and the
/// first stream of a `DecodingRule`, read by the base weights), on `.generated` ones.
public enum ForwardPhase: Sendable {
    case prompt
    case generated
}

/// Handle of an adapter applied to a model.
public struct AppliedAdapterID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public var description: String { "adapter#\(rawValue)" }
}
