/// Errors loading or applying a LoRA adapter; each names the file and the tensor or field at fault.
public enum AdapterError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, detail: String)
    case malformedConfig(file: String, field: String, detail: String)
    case unsupported(file: String, field: String, detail: String)
    case unknownTarget(file: String, tensor: String, example: String)
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    case missingFactor(file: String, tensor: String)
    case unexpectedTensor(file: String, tensor: String)
    case noTensors(file: String)
    case baseModelMismatch(file: String, expected: String, found: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let detail): return "\(file): cannot read adapter: \(detail)"
        case .malformedConfig(let file, let field, let detail): return "\(file): field '\(field)': \(detail)"
        case .unsupported(let file, let field, let detail): return "\(file): field '\(field)': \(detail) is not supported"
        case .unknownTarget(let file, let tensor, let example):
            return "\(file): tensor '\(tensor)' targets a layer this model does not have (its layers look like '\(example)'); the adapter was made for another model"
        case .shapeMismatch(let file, let tensor, let expected, let found):
            return "\(file): tensor '\(tensor)' has shape \(found) but this model needs \(expected); the adapter was made for another model"
        case .missingFactor(let file, let tensor): return "\(file): '\(tensor)' has no matching lora_A/lora_B partner"
        case .unexpectedTensor(let file, let tensor): return "\(file): tensor '\(tensor)' is not a LoRA factor (lora_A/lora_B)"
        case .noTensors(let file): return "\(file): the adapter holds no LoRA tensors"
        case .baseModelMismatch(let file, let expected, let found):
            return "\(file): field 'base_model_fingerprint': the adapter was made for base model \(found), but this model is \(expected); teleport or train an adapter for this model"
        }
    }
}
