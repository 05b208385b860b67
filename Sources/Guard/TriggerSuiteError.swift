/// A trigger suite file that cannot be used, naming the file and field.
public enum TriggerSuiteError: Error, CustomStringConvertible, Equatable {
    case missing(file: String)
    case malformed(file: String, field: String, detail: String)

    public var description: String {
        switch self {
        case .missing(let file): return "\(file): trigger suite not found"
        case .malformed(let file, let field, let detail): return "\(file): field '\(field)': \(detail)"
        }
    }
}
