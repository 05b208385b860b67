/// The syntax tree of a parsed template. Nodes carry their line for runtime error messages.

/// A constant written in the template source.
enum JinjaLiteral: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
}

/// A call argument: positional when `name` is nil, keyword otherwise.
struct JinjaArgument: Sendable {
    var name: String?
    var value: JinjaExpression
}

struct JinjaExpression: Sendable {
    indirect enum Kind: Sendable {
        case literal(JinjaLiteral)
        case name(String)
        case list([JinjaExpression])
        case tuple([JinjaExpression])
        case dictionary([(key: JinjaExpression, value: JinjaExpression)])
        case attribute(JinjaExpression, String)
        case item(JinjaExpression, JinjaExpression)
        case slice(JinjaExpression, start: JinjaExpression?, stop: JinjaExpression?, step: JinjaExpression?)
        case call(JinjaExpression, [JinjaArgument])
        case filter(JinjaExpression, name: String, [JinjaArgument])
        case test(JinjaExpression, name: String, [JinjaArgument], negated: Bool)
        /// `-`, `+` or `not`.
        case unary(String, JinjaExpression)
        /// Arithmetic and `~`: `+ - * / // % ** ~`.
        case binary(String, JinjaExpression, JinjaExpression)
        case and(JinjaExpression, JinjaExpression)
        case or(JinjaExpression, JinjaExpression)
        /// A comparison chain such as `a < b <= c`; operators `== != < <= > >= in notin`.
        case compare(JinjaExpression, [(op: String, operand: JinjaExpression)])
        /// `a if condition else b`; without `else` the result is undefined.
        case conditional(condition: JinjaExpression, then: JinjaExpression, otherwise: JinjaExpression?)
    }

    var kind: Kind
    var line: Int
}

/// What `set` and `for` assign to.
enum JinjaAssignTarget: Sendable {
    case name(String)
    /// `ns.attribute`: only namespaces accept attribute assignment.
    case attribute(object: String, attribute: String)
    case tuple([String])
}

struct JinjaMacro: Sendable {
    var name: String
    var parameters: [(name: String, defaultValue: JinjaExpression?)]
    var body: [JinjaStatement]
}

struct JinjaStatement: Sendable {
    indirect enum Kind: Sendable {
        case text(String)
        case output(JinjaExpression)
        case ifChain(branches: [(condition: JinjaExpression, body: [JinjaStatement])], otherwise: [JinjaStatement])
        case forLoop(target: JinjaAssignTarget, iterable: JinjaExpression, filter: JinjaExpression?, body: [JinjaStatement], otherwise: [JinjaStatement])
        case set(JinjaAssignTarget, JinjaExpression)
        case setBlock(name: String, body: [JinjaStatement])
        case macro(JinjaMacro)
        /// `{% call(params) macro(args) %}body{% endcall %}`: the body becomes the macro's `caller`.
        case callBlock(call: JinjaExpression, caller: JinjaMacro)
        /// `{% generation %}` from transformers' AssistantTracker: renders its body unchanged.
        case generation([JinjaStatement])
        case breakLoop
        case continueLoop
    }

    var kind: Kind
    var line: Int
}
