/// Errors loading or running the TeleLoRA generator (`adapters/telelora/`); each names the file and field at fault.
public enum TeleLoRAError: Error, CustomStringConvertible, Equatable {
    case missing(file: String)
    case unreadable(file: String, detail: String)
    case malformed(file: String, field: String, detail: String)
    case unsupported(file: String, field: String, expected: String, found: String)
    case tensorShape(file: String, tensor: String, expected: [Int], found: [Int])
    case unknownLayerType(file: String, layerType: String, known: [String])
    case inputShape(detail: String)
    case noTargetedLayers(file: String, pattern: String, example: String)

    public var description: String {
        switch self {
        case .missing(let file): return "\(file): missing"
        case .unreadable(let file, let detail): return "\(file): cannot read: \(detail)"
        case .malformed(let file, let field, let detail): return "\(file): field '\(field)': \(detail)"
        case .unsupported(let file, let field, let expected, let found):
            return "\(file): field '\(field)': expected \(expected), found \(found); this build does not know that generator"
        case .tensorShape(let file, let tensor, let expected, let found):
            return "\(file): tensor '\(tensor)': expected shape \(expected), found \(found)"
        case .unknownLayerType(let file, let layerType, let known):
            return "\(file): layer type '\(layerType)' is not one the generator knows (\(known.joined(separator: ", ")))"
        case .inputShape(let detail): return "generator input: \(detail)"
        case .noTargetedLayers(let file, let pattern, let example):
            return "\(file): field 'targets': no linear layer of this model matches \(pattern) (its layers look like '\(example)')"
        }
    }
}
