/// Variable scopes while rendering: builtins, then the template's context (the variables passed in,
/// which top-level `set` overwrites), then one scope per loop iteration or macro call. A `set` writes
/// to the innermost scope, so assignments inside a loop do not leak out (jinja2 scoping); only
/// namespace attributes carry state out of a loop.
struct JinjaEnvironment {
    /// Scopes are shared by reference: a macro keeps the scopes around its definition and sees later
    /// assignments to them (and itself), as the Python closures jinja2 compiles macros into do.
    final class Scope {
        var variables: [String: TemplateValue]
        init(_ variables: [String: TemplateValue] = [:]) { self.variables = variables }
    }

    var scopes: [Scope]

    init(globals: [String: TemplateValue], context: [String: TemplateValue]) {
        scopes = [Scope(globals), Scope(context)]
    }

    /// Builtins and the template's top-level scope, which every macro sees.
    var templateScopes: ArraySlice<Scope> { scopes.prefix(2) }
    /// The loop and macro scopes around the current position.
    var enclosingScopes: ArraySlice<Scope> { scopes.dropFirst(2) }

    func lookup(_ name: String) -> TemplateValue? {
        for scope in scopes.reversed() {
            if let value = scope.variables[name] { return value }
        }
        return nil
    }

    func assign(_ name: String, _ value: TemplateValue) {
        scopes[scopes.count - 1].variables[name] = value
    }

    mutating func pushScope() { scopes.append(Scope()) }
    mutating func popScope() { scopes.removeLast() }
}
