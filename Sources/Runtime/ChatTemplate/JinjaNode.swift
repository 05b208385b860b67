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
    /// Height of this subtree; the parser bounds it so that evaluation cannot exhaust the stack.
    let depth: Int

    init(kind: Kind, line: Int) {
        self.kind = kind
        self.line = line
        depth = 1 + (kind.children.map(\.depth).max() ?? 0)
    }
}

extension JinjaExpression.Kind {
    var children: [JinjaExpression] {
        switch self {
        case .literal, .name: return []
        case let .list(items), let .tuple(items): return items
        case let .dictionary(entries): return entries.flatMap { [$0.key, $0.value] }
        case let .attribute(object, _): return [object]
        case let .item(object, key): return [object, key]
        case let .slice(object, start, stop, step): return [object] + [start, stop, step].compactMap { $0 }
        case let .call(callee, arguments): return [callee] + arguments.map(\.value)
        case let .filter(value, _, arguments), let .test(value, _, arguments, _): return [value] + arguments.map(\.value)
        case let .unary(_, operand): return [operand]
        case let .binary(_, left, right), let .and(left, right), let .or(left, right): return [left, right]
        case let .compare(first, operands): return [first] + operands.map(\.operand)
        case let .conditional(condition, then, otherwise): return [condition, then] + (otherwise.map { [$0] } ?? [])
        }
    }
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
