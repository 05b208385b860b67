/// Where a model's tensors come from, by Hugging Face tensor name (`model.layers.0.self_attn.q_proj.weight`):
/// a directory of safetensors files (`WeightStore`) or a GGUF file (`GGUFWeights`). Shapes are row-major
/// (`[out, in]` for a projection), as in PyTorch.
public protocol ModelWeightSource: AnyObject {
    /// Every tensor name, sorted.
    var tensorNames: [String] { get }
    func shape(of name: String) -> [Int]?
    /// The tensor as `Float`s, after checking its shape when `expectedShape` is given.
    func floatBuffer(_ name: String, expectedShape: [Int]?) throws -> FloatBuffer
}

extension WeightStore: ModelWeightSource {
    public func shape(of name: String) -> [Int]? { info(name)?.shape }
}
