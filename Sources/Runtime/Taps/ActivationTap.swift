/// One batch of rows seen by a linear layer during a forward pass, delivered to tap subscribers as it is computed.
///
/// The buffers are only valid during the callback: copy what you keep.
public struct ActivationBatch {
    /// Hugging Face module name, e.g. `model.layers.3.mlp.down_proj`.
    public let layer: String
    /// Number of rows (token positions) in this batch.
    public let rows: Int
    /// Position of the first row in the sequence.
    public let firstPosition: Int
    /// `rows × inFeatures`, the layer's input.
    public let input: UnsafeBufferPointer<Float>
    /// `rows × outFeatures`, the layer's output (after bias and active adapters).
    public let output: UnsafeBufferPointer<Float>
    public let inFeatures: Int
    public let outFeatures: Int
}

public typealias ActivationTapHandler = (ActivationBatch) -> Void

/// Identifies a subscription so it can be removed.
public struct ActivationTapToken: Hashable, Sendable {
    let layer: String
    let id: Int
}
