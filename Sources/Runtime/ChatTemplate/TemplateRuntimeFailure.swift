/// A runtime failure without position; the interpreter adds the line of the statement it ran.
struct TemplateRuntimeFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
