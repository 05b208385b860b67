/// A lexical token of a Jinja template, with the position of its first character.
struct JinjaToken: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        /// Literal template text, already whitespace-controlled.
        case text(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        /// Operators and punctuation: `+ - * / // % ** ~ == != < <= > >= = ( ) [ ] { } , . : |`.
        case op(String)
        case endOfTemplate
    }

    var kind: Kind
    var line: Int
    var column: Int

    var describedForError: String {
        switch kind {
        case let .text(text): return "text \(text.prefix(20).debugDescription)"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "end of print statement"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "end of statement block"
        case let .name(name): return "'\(name)'"
        case let .string(value): return "string \(value.debugDescription)"
        case let .integer(value): return "integer \(value)"
        case let .float(value): return "float \(value)"
        case let .op(op): return "'\(op)'"
        case .endOfTemplate: return "end of template"
        }
    }
}
