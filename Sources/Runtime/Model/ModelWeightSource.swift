/// Where a model's tensors come from, by Hugging Face tensor name (`model.layers.0.self_attn.q_proj.weight`):
/// a directory of safetensors files (`WeightStore`) or a GGUF file (`GGUFWeights`). Shapes are row-major
/// (`[out, in]` for a projection), as in PyTorch.
public protocol ModelWeightSource: AnyObject {
    /// Every tensor name, sorted.
    var tensorNames: [String] { get }
    func shape(of name: String) -> [Int]?
    /// The tensor as `Float`s, after checking its shape when `expectedShape` is given.
    func floatBuffer(_ name: String, expectedShape: [Int]?) throws -> FloatBuffer
    /// A matrix `[out, in]` in the storage `precision` asks for (by default float32).
    func matrix(_ name: String, outFeatures: Int, inFeatures: Int, precision: WeightPrecision) throws -> WeightMatrix
}

extension ModelWeightSource {
    public func matrix(_ name: String, outFeatures: Int, inFeatures: Int, precision: WeightPrecision) throws -> WeightMatrix {
        WeightMatrix(dense: try floatBuffer(name, expectedShape: [outFeatures, inFeatures]),
                     inFeatures: inFeatures, outFeatures: outFeatures)
    }
}

extension WeightStore: ModelWeightSource {
    public func shape(of name: String) -> [Int]? { info(name)?.shape }
}
