/// Renders a parsed template: runs statements, keeping scopes in a `JinjaEnvironment`.
final class JinjaInterpreter {
    var environment: JinjaEnvironment
    /// Macro calls in progress. Python stops runaway recursion with a RecursionError; this limit
    /// does the same long before the native stack runs out (the deepest allowed recursion fits in
    /// 1 MiB of stack even in a debug build).
    private var macroDepth = 0
    static let maximumMacroDepth = 32
    /// A template comes with a model file, so it is untrusted: it may not run more statements than this in one
    /// render (loops nested over `range` could otherwise run for hours; real chat templates take a few thousand) ...
    static let maximumSteps = 1_000_000
    /// ... nor write more than this (nor build a string or list this large by repetition).
    static let maximumOutputBytes = 4 << 20
    private var steps = 0

    init(environment: JinjaEnvironment) { self.environment = environment }

    /// `a + b`, within `maximumOutputBytes` (strings doubled in a loop grow past memory in a few dozen steps).
    static func concatenated(_ a: String, _ b: String) throws -> String {
        try checkRepetition(1, of: a.utf8.count + b.utf8.count)
        return a + b
    }

    static func checkRepetition(_ count: Int, of size: Int) throws {
        let (total, overflow) = max(count, 0).multipliedReportingOverflow(by: size)
        guard !overflow, total <= maximumOutputBytes else {
            throw TemplateRuntimeFailure("repetition would make \(overflow ? "more than Int.max" : String(total)) elements or bytes; the limit is \(maximumOutputBytes)")
        }
    }

    enum Flow { case normal, breakLoop, continueLoop }

    func render(_ body: [JinjaStatement]) throws -> String {
        var output = ""
        _ = try execute(body, into: &output)
        return output
    }

    func execute(_ statements: [JinjaStatement], into output: inout String) throws -> Flow {
        for statement in statements {
            let flow: Flow
            do {
                flow = try execute(statement, into: &output)
            } catch let failure as TemplateRuntimeFailure {
                throw ChatTemplateError.runtime(line: statement.line, message: failure.message)
            }
            if flow != .normal { return flow }
        }
        return .normal
    }

    /// Counts one step (a statement, or a loop iteration, so that an empty loop body counts too) against the limits.
    private func step(_ output: String) throws {
        steps += 1
        guard steps <= Self.maximumSteps else {
            throw TemplateRuntimeFailure("the template ran more than \(Self.maximumSteps) steps and was stopped")
        }
        guard output.utf8.count <= Self.maximumOutputBytes else {
            throw TemplateRuntimeFailure("the template wrote more than \(Self.maximumOutputBytes) bytes and was stopped")
        }
    }

    private func execute(_ statement: JinjaStatement, into output: inout String) throws -> Flow {
        try step(output)
        switch statement.kind {
        case let .text(text):
            output += text
        case let .output(expression):
            output += try evaluate(expression).pythonString
        case let .ifChain(branches, otherwise):
            for branch in branches where try evaluate(branch.condition).isTruthy {
                return try execute(branch.body, into: &output)
            }
            return try execute(otherwise, into: &output)
        case let .forLoop(target, iterable, filter, body, otherwise):
            return try executeFor(target: target, iterable: iterable, filter: filter, body: body, otherwise: otherwise, into: &output)
        case let .set(target, expression):
            try assign(target, try evaluate(expression))
        case let .setBlock(name, body):
            var captured = ""
            _ = try execute(body, into: &captured)
            environment.assign(name, .string(captured))
        case let .macro(macro):
            environment.assign(macro.name, .callable(makeMacro(macro)))
        case let .callBlock(call, callerMacro):
            guard case let .call(callee, arguments) = call.kind else { return .normal }
            let caller = makeMacro(callerMacro)
            var evaluated = try evaluateArguments(arguments)
            evaluated.keyword.append(("caller", .callable(caller)))
            output += try callValue(try evaluate(callee), evaluated).pythonString
        case let .generation(body):
            return try execute(body, into: &output)
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        }
        return .normal
    }

    private func executeFor(target: JinjaAssignTarget, iterable: JinjaExpression, filter: JinjaExpression?,
                            body: [JinjaStatement], otherwise: [JinjaStatement], into output: inout String) throws -> Flow
    {
        var items = try iterate(try evaluate(iterable))
        if let filter {
            items = try items.filter { item in
                environment.pushScope()
                defer { environment.popScope() }
                try assign(target, item)
                return try evaluate(filter).isTruthy
            }
        }
        // jinja2 clears its "no iteration" flag at the end of the body, so the else block also runs
        // when every iteration left early through break or continue.
        var anyIterationCompleted = false
        // Each iteration gets a fresh scope: jinja2 resolves a name read before its `set` in the
        // body from outside the loop on every iteration, and nothing set in one iteration reaches the next.
        for index in items.indices {
            try step(output)
            environment.pushScope()
            defer { environment.popScope() }
            try assign(target, items[index])
            environment.assign("loop", .loop(LoopContext(items: items, index0: index)))
            let flow = try execute(body, into: &output)
            if flow == .normal { anyIterationCompleted = true }
            if flow == .breakLoop { break }
        }
        if !anyIterationCompleted { _ = try execute(otherwise, into: &output) }
        return .normal
    }

    func assign(_ target: JinjaAssignTarget, _ value: TemplateValue) throws {
        switch target {
        case let .name(name):
            environment.assign(name, value)
        case let .attribute(object, attribute):
            guard case let .namespace(namespace) = environment.lookup(object) else {
                throw TemplateRuntimeFailure("cannot assign attribute on non-namespace object")
            }
            namespace.attributes[attribute] = value
        case let .tuple(names):
            let items = try iterate(value)
            guard items.count == names.count else {
                throw TemplateRuntimeFailure(items.count < names.count
                    ? "not enough values to unpack (expected \(names.count), got \(items.count))"
                    : "too many values to unpack (expected \(names.count))")
            }
            for (name, item) in zip(names, items) { environment.assign(name, item) }
        }
    }

    /// A macro sees the template's variables at call time, the loop variables around its
    /// definition, its parameters, and `caller` when invoked from a call block.
    private func makeMacro(_ macro: JinjaMacro) -> TemplateCallable {
        let enclosingScopes = environment.enclosingScopes
        return TemplateCallable(name: macro.name) { interpreter, arguments in
            guard interpreter.macroDepth < Self.maximumMacroDepth else {
                throw TemplateRuntimeFailure("maximum recursion depth exceeded in macro '\(macro.name)'")
            }
            interpreter.macroDepth += 1
            defer { interpreter.macroDepth -= 1 }
            let saved = interpreter.environment.scopes
            defer { interpreter.environment.scopes = saved }
            interpreter.environment.scopes = Array(interpreter.environment.templateScopes + enclosingScopes)
            interpreter.environment.pushScope()
            guard arguments.positional.count <= macro.parameters.count else {
                throw TemplateRuntimeFailure("macro '\(macro.name)' takes not more than \(macro.parameters.count) argument(s)")
            }
            for (position, parameter) in macro.parameters.enumerated() {
                if let value = arguments.value(position, parameter.name) {
                    interpreter.environment.assign(parameter.name, value)
                } else if let defaultValue = parameter.defaultValue {
                    interpreter.environment.assign(parameter.name, try interpreter.evaluate(defaultValue))
                } else {
                    interpreter.environment.assign(parameter.name, .undefined(message: "parameter '\(parameter.name)' was not provided"))
                }
            }
            for (name, value) in arguments.keyword where name == "caller" { interpreter.environment.assign(name, value) }
            var output = ""
            _ = try interpreter.execute(macro.body, into: &output)
            return .string(output)
        }
    }

    /// Python iteration: lists and tuples by item, dicts by key, strings by code point; undefined is empty.
    func iterate(_ value: TemplateValue) throws -> [TemplateValue] {
        switch value {
        case .undefined: return []
        case let .list(items), let .tuple(items), let .iterator(items): return items
        case let .dictionary(dictionary): return dictionary.keys.map(TemplateValue.string)
        case let .string(text): return text.unicodeScalars.map { .string(String($0)) }
        case let .namespace(namespace): return namespace.attributes.keys.map(TemplateValue.string)
        default: throw TemplateRuntimeFailure("'\(value.typeName)' object is not iterable")
        }
    }
}
