/// Why a chat template could not be parsed or rendered.
public enum ChatTemplateError: Error, CustomStringConvertible, Equatable {
    /// The template source is not valid Jinja; line and column are 1-based.
    case syntax(line: Int, column: Int, message: String)
    /// The template called `raise_exception(message)`, e.g. when roles do not alternate.
    case raised(message: String)
    /// An expression failed while rendering (undefined value used, wrong operand types, ...).
    case runtime(line: Int, message: String)
    /// JSON given as template input could not be read.
    case invalidJSON(offset: Int, message: String)

    public var description: String {
        switch self {
        case let .syntax(line, column, message):
            return "chat template: syntax error at line \(line), column \(column): \(message)"
        case let .raised(message):
            return "chat template raised: \(message)"
        case let .runtime(line, message):
            return "chat template: error at line \(line): \(message)"
        case let .invalidJSON(offset, message):
            return "chat template input: invalid JSON at byte \(offset): \(message)"
        }
    }
}
