/// Builds the syntax tree from tokens, following the grammar and precedence of jinja2/parser.py:
/// conditional < or < and < not < comparison < `+ -` < `~` < `* / // %` < `**` (left-associative)
/// < unary `- +` < postfix (`.attr`, `[item]`, call) < filters and tests.
struct JinjaParser {
    private let tokens: [JinjaToken]
    private var index = 0
    /// Recursion guards. Python stops absurd nesting with a RecursionError; these limits stop it
    /// long before the native stack could run out (the deepest allowed template renders within
    /// 1 MiB of stack even in a debug build), and far above
    /// what real chat templates use (a handful of levels).
    static let maximumNesting = 32
    static let maximumExpressionDepth = 128
    private var nesting = 0
    /// Inside an `if` (its test and body) or a conditional expression, where jinja2 defers
    /// "no such filter/test" errors until the code runs; loop and macro bodies start afresh.
    private var softDepth = 0
    /// Unknown filter and test names met outside such places; the first one fails the parse. A use
    /// inside the value of a conditional expression is only known to be soft once its `if` is seen.
    private var unknownNames: [(message: String, token: JinjaToken)] = []

    init(tokens: [JinjaToken]) { self.tokens = tokens }

    static func parse(_ source: String) throws -> [JinjaStatement] {
        var parser = JinjaParser(tokens: try JinjaLexer.tokenize(source))
        let (body, end) = try parser.parseStatements(until: [])
        if let end { throw parser.error("unexpected tag '\(end)'", at: parser.current) }
        if let unknown = parser.unknownNames.first { throw parser.error(unknown.message, at: unknown.token) }
        return body
    }

    // MARK: - Token stream

    private var current: JinjaToken { tokens[min(index, tokens.count - 1)] }
    private func peek(_ offset: Int = 1) -> JinjaToken { tokens[min(index + offset, tokens.count - 1)] }
    private mutating func advance() -> JinjaToken {
        let token = current
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    private func error(_ message: String, at token: JinjaToken) -> ChatTemplateError {
        .syntax(line: token.line, column: token.column, message: message)
    }

    private func makeExpression(kind: JinjaExpression.Kind, line: Int) throws -> JinjaExpression {
        let expression = JinjaExpression(kind: kind, line: line)
        guard expression.depth <= Self.maximumExpressionDepth else {
            throw error("expression nested deeper than \(Self.maximumExpressionDepth) levels", at: current)
        }
        return expression
    }

    private mutating func enterNesting() throws {
        nesting += 1
        guard nesting <= Self.maximumNesting else { throw error("nested deeper than \(Self.maximumNesting) levels", at: current) }
    }

    private func isOp(_ op: String, _ token: JinjaToken? = nil) -> Bool { (token ?? current).kind == .op(op) }
    private func isName(_ name: String, _ token: JinjaToken? = nil) -> Bool { (token ?? current).kind == .name(name) }

    private mutating func expectOp(_ op: String) throws {
        guard isOp(op) else { throw error("expected token '\(op)', got \(current.describedForError)", at: current) }
        _ = advance()
    }

    private mutating func expectName() throws -> String {
        guard case let .name(name) = current.kind else { throw error("expected token 'name', got \(current.describedForError)", at: current) }
        _ = advance()
        return name
    }

    private mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw error("expected end of statement block, got \(current.describedForError)", at: current) }
        _ = advance()
    }

    // MARK: - Statements

    /// Parses until one of `endTags` opens a block (the tag's name is consumed, its block end is not).
    private mutating func parseStatements(until endTags: Set<String>) throws -> ([JinjaStatement], String?) {
        try enterNesting()
        defer { nesting -= 1 }
        var body: [JinjaStatement] = []
        while true {
            let token = current
            switch token.kind {
            case let .text(text):
                _ = advance()
                body.append(JinjaStatement(kind: .text(text), line: token.line))
            case .variableBegin:
                _ = advance()
                let expression = try parseTuple(allowConditional: true)
                guard current.kind == .variableEnd else { throw error("unexpected \(current.describedForError)", at: current) }
                _ = advance()
                body.append(JinjaStatement(kind: .output(expression), line: token.line))
            case .blockBegin:
                _ = advance()
                guard case let .name(tag) = current.kind else { throw error("tag name expected", at: current) }
                if endTags.contains(tag) {
                    _ = advance()
                    return (body, tag)
                }
                body.append(try parseTag(tag))
            case .endOfTemplate:
                if !endTags.isEmpty {
                    let expected = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
                    throw error("unexpected end of template, expected \(expected)", at: token)
                }
                return (body, nil)
            default:
                throw error("unexpected \(token.describedForError)", at: token)
            }
        }
    }

    private mutating func parseTag(_ tag: String) throws -> JinjaStatement {
        let token = advance()
        let line = token.line
        switch tag {
        case "if": return try parseIf(line: line)
        case "for": return try parseFor(line: line)
        case "set": return try parseSet(line: line)
        case "macro": return try parseMacro(line: line)
        case "call": return try parseCallBlock(line: line)
        case "generation":
            try expectBlockEnd()
            let (body, _) = try parseStatements(until: ["endgeneration"])
            try expectBlockEnd()
            return JinjaStatement(kind: .generation(body), line: line)
        case "break", "continue":
            try expectBlockEnd()
            return JinjaStatement(kind: tag == "break" ? .breakLoop : .continueLoop, line: line)
        default:
            throw error("encountered unknown tag '\(tag)'", at: token)
        }
    }

    private mutating func parseIf(line: Int) throws -> JinjaStatement {
        var branches: [(condition: JinjaExpression, body: [JinjaStatement])] = []
        var otherwise: [JinjaStatement] = []
        softDepth += 1
        defer { softDepth -= 1 }
        // jinja2 parses the test without conditional expressions: `{% if a if b else c %}` is an error.
        var condition = try parseTuple(allowConditional: false)
        while true {
            try expectBlockEnd()
            let (body, end) = try parseStatements(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            if end == "elif" {
                condition = try parseTuple(allowConditional: false)
                continue
            }
            if end == "else" {
                try expectBlockEnd()
                (otherwise, _) = try parseStatements(until: ["endif"])
            }
            try expectBlockEnd()
            return JinjaStatement(kind: .ifChain(branches: branches, otherwise: otherwise), line: line)
        }
    }

    private mutating func parseAssignTarget(allowAttribute: Bool) throws -> JinjaAssignTarget {
        let first = try expectName()
        if allowAttribute, isOp(".") {
            _ = advance()
            return .attribute(object: first, attribute: try expectName())
        }
        guard isOp(",") else { return .name(first) }
        var names = [first]
        while isOp(",") {
            _ = advance()
            guard case .name = current.kind else { break }
            names.append(try expectName())
        }
        return .tuple(names)
    }

    private mutating func parseFor(line: Int) throws -> JinjaStatement {
        let target: JinjaAssignTarget
        if isOp("(") {
            _ = advance()
            target = try parseAssignTarget(allowAttribute: false)
            try expectOp(")")
        } else {
            target = try parseAssignTarget(allowAttribute: false)
        }
        guard isName("in") else { throw error("expected token 'in', got \(current.describedForError)", at: current) }
        _ = advance()
        // The iterable takes no conditional expression, so that a trailing `if` filters the loop.
        let iterable = try parseTuple(allowConditional: false)
        let outerSoftDepth = softDepth
        softDepth = 0
        defer { softDepth = outerSoftDepth }
        var filter: JinjaExpression?
        if isName("if") {
            _ = advance()
            filter = try parseExpression()
        }
        if isName("recursive") { throw error("recursive loops are not supported", at: current) }
        try expectBlockEnd()
        let (body, end) = try parseStatements(until: ["endfor", "else"])
        var otherwise: [JinjaStatement] = []
        if end == "else" {
            try expectBlockEnd()
            (otherwise, _) = try parseStatements(until: ["endfor"])
        }
        try expectBlockEnd()
        return JinjaStatement(kind: .forLoop(target: target, iterable: iterable, filter: filter, body: body, otherwise: otherwise), line: line)
    }

    private mutating func parseSet(line: Int) throws -> JinjaStatement {
        let target = try parseAssignTarget(allowAttribute: true)
        if current.kind == .blockEnd, case let .name(name) = target {
            _ = advance()
            let (body, _) = try parseStatements(until: ["endset"])
            try expectBlockEnd()
            return JinjaStatement(kind: .setBlock(name: name, body: body), line: line)
        }
        try expectOp("=")
        let value = try parseTuple(allowConditional: true)
        try expectBlockEnd()
        return JinjaStatement(kind: .set(target, value), line: line)
    }

    private mutating func parseParameters() throws -> [(name: String, defaultValue: JinjaExpression?)] {
        var parameters: [(name: String, defaultValue: JinjaExpression?)] = []
        try expectOp("(")
        while !isOp(")") {
            if !parameters.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let name = try expectName()
            var defaultValue: JinjaExpression?
            if isOp("=") {
                _ = advance()
                defaultValue = try parseExpression()
            }
            parameters.append((name, defaultValue))
        }
        _ = advance()
        return parameters
    }

    private mutating func parseMacro(line: Int) throws -> JinjaStatement {
        let name = try expectName()
        let outerSoftDepth = softDepth
        softDepth = 0
        defer { softDepth = outerSoftDepth }
        let parameters = try parseParameters()
        try expectBlockEnd()
        let (body, _) = try parseStatements(until: ["endmacro"])
        if case .name = current.kind { _ = advance() }
        try expectBlockEnd()
        return JinjaStatement(kind: .macro(JinjaMacro(name: name, parameters: parameters, body: body)), line: line)
    }

    private mutating func parseCallBlock(line: Int) throws -> JinjaStatement {
        let parameters = isOp("(") ? try parseParameters() : []
        let call = try parseExpression()
        guard case .call = call.kind else { throw error("expected call", at: current) }
        try expectBlockEnd()
        let outerSoftDepth = softDepth
        softDepth = 0
        defer { softDepth = outerSoftDepth }
        let (body, _) = try parseStatements(until: ["endcall"])
        try expectBlockEnd()
        return JinjaStatement(kind: .callBlock(call: call, caller: JinjaMacro(name: "caller", parameters: parameters, body: body)), line: line)
    }

    // MARK: - Expressions

    /// An expression, or several separated by commas (an implicit tuple).
    private mutating func parseTuple(allowConditional: Bool) throws -> JinjaExpression {
        let line = current.line
        let first = allowConditional ? try parseExpression() : try parseOr()
        guard isOp(",") else { return first }
        var items = [first]
        while isOp(",") {
            _ = advance()
            if current.kind == .variableEnd || current.kind == .blockEnd || isOp(")") || isName("if") { break }
            items.append(allowConditional ? try parseExpression() : try parseOr())
        }
        return try makeExpression(kind: .tuple(items), line: line)
    }

    private mutating func parseExpression() throws -> JinjaExpression {
        try enterNesting()
        defer { nesting -= 1 }
        let unknownBefore = unknownNames.count
        var expression = try parseOr()
        while isName("if") {
            let line = current.line
            _ = advance()
            unknownNames.removeSubrange(unknownBefore...)
            softDepth += 1
            defer { softDepth -= 1 }
            let condition = try parseOr()
            var otherwise: JinjaExpression?
            if isName("else") {
                _ = advance()
                otherwise = try parseExpression()
            }
            expression = try makeExpression(kind: .conditional(condition: condition, then: expression, otherwise: otherwise), line: line)
        }
        return expression
    }

    private mutating func parseOr() throws -> JinjaExpression {
        var left = try parseAnd()
        while isName("or") {
            let line = advance().line
            left = try makeExpression(kind: .or(left, try parseAnd()), line: line)
        }
        return left
    }

    private mutating func parseAnd() throws -> JinjaExpression {
        var left = try parseNot()
        while isName("and") {
            let line = advance().line
            left = try makeExpression(kind: .and(left, try parseNot()), line: line)
        }
        return left
    }

    private mutating func parseNot() throws -> JinjaExpression {
        if isName("not") {
            try enterNesting()
            defer { nesting -= 1 }
            let line = advance().line
            return try makeExpression(kind: .unary("not", try parseNot()), line: line)
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> JinjaExpression {
        let line = current.line
        let first = try parseMath1()
        var operands: [(op: String, operand: JinjaExpression)] = []
        while true {
            if case let .op(op) = current.kind, ["==", "!=", "<", "<=", ">", ">="].contains(op) {
                _ = advance()
                operands.append((op, try parseMath1()))
            } else if isName("in") {
                _ = advance()
                operands.append(("in", try parseMath1()))
            } else if isName("not"), isName("in", peek()) {
                _ = advance()
                _ = advance()
                operands.append(("notin", try parseMath1()))
            } else {
                break
            }
        }
        return operands.isEmpty ? first : try makeExpression(kind: .compare(first, operands), line: line)
    }

    private mutating func parseBinary(_ ops: Set<String>, next: (inout JinjaParser) throws -> JinjaExpression) throws -> JinjaExpression {
        var left = try next(&self)
        while case let .op(op) = current.kind, ops.contains(op) {
            let line = advance().line
            left = try makeExpression(kind: .binary(op, left, try next(&self)), line: line)
        }
        return left
    }

    private mutating func parseMath1() throws -> JinjaExpression { try parseBinary(["+", "-"]) { try $0.parseConcat() } }
    private mutating func parseConcat() throws -> JinjaExpression { try parseBinary(["~"]) { try $0.parseMath2() } }
    private mutating func parseMath2() throws -> JinjaExpression { try parseBinary(["*", "/", "//", "%"]) { try $0.parsePow() } }
    private mutating func parsePow() throws -> JinjaExpression { try parseBinary(["**"]) { try $0.parseUnary(withFilter: true) } }

    private mutating func parseUnary(withFilter: Bool) throws -> JinjaExpression {
        let line = current.line
        var node: JinjaExpression
        if isOp("-") || isOp("+") {
            try enterNesting()
            defer { nesting -= 1 }
            let op = isOp("-") ? "-" : "+"
            _ = advance()
            node = try makeExpression(kind: .unary(op, try parseUnary(withFilter: false)), line: line)
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilter { node = try parseFilterExpression(node) }
        return node
    }

    private mutating func parsePrimary() throws -> JinjaExpression {
        let token = current
        let line = token.line
        switch token.kind {
        case let .name(name):
            _ = advance()
            switch name {
            case "true", "True": return try makeExpression(kind: .literal(.bool(true)), line: line)
            case "false", "False": return try makeExpression(kind: .literal(.bool(false)), line: line)
            case "none", "None": return try makeExpression(kind: .literal(.none), line: line)
            default: return try makeExpression(kind: .name(name), line: line)
            }
        case var .string(value):
            _ = advance()
            // Adjacent string literals are concatenated, as in Python.
            while case let .string(next) = current.kind {
                value += next
                _ = advance()
            }
            return try makeExpression(kind: .literal(.string(value)), line: line)
        case let .integer(value):
            _ = advance()
            return try makeExpression(kind: .literal(.int(value)), line: line)
        case let .float(value):
            _ = advance()
            return try makeExpression(kind: .literal(.double(value)), line: line)
        case .op("("):
            _ = advance()
            if isOp(")") {
                _ = advance()
                return try makeExpression(kind: .tuple([]), line: line)
            }
            let first = try parseExpression()
            if isOp(")") {
                _ = advance()
                return first
            }
            var items = [first]
            while isOp(",") {
                _ = advance()
                if isOp(")") { break }
                items.append(try parseExpression())
            }
            try expectOp(")")
            return try makeExpression(kind: .tuple(items), line: line)
        case .op("["):
            _ = advance()
            var items: [JinjaExpression] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            _ = advance()
            return try makeExpression(kind: .list(items), line: line)
        case .op("{"):
            _ = advance()
            var entries: [(key: JinjaExpression, value: JinjaExpression)] = []
            while !isOp("}") {
                if !entries.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                entries.append((key, try parseExpression()))
            }
            _ = advance()
            return try makeExpression(kind: .dictionary(entries), line: line)
        default:
            throw error("unexpected \(token.describedForError)", at: token)
        }
    }

    private mutating func parsePostfix(_ start: JinjaExpression) throws -> JinjaExpression {
        var node = start
        while true {
            let line = current.line
            if isOp(".") {
                _ = advance()
                switch current.kind {
                case let .name(name):
                    _ = advance()
                    node = try makeExpression(kind: .attribute(node, name), line: line)
                case let .integer(value):
                    _ = advance()
                    node = try makeExpression(kind: .item(node, try makeExpression(kind: .literal(.int(value)), line: line)), line: line)
                default:
                    throw error("expected name or number after '.', got \(current.describedForError)", at: current)
                }
            } else if isOp("[") {
                _ = advance()
                node = try parseSubscript(node, line: line)
            } else if isOp("(") {
                node = try makeExpression(kind: .call(node, try parseCallArguments()), line: line)
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ target: JinjaExpression, line: Int) throws -> JinjaExpression {
        func sliceBound(_ parser: inout JinjaParser) throws -> JinjaExpression? {
            parser.isOp(":") || parser.isOp("]") ? nil : try parser.parseExpression()
        }
        let start = try sliceBound(&self)
        guard isOp(":") else {
            try expectOp("]")
            guard let start else { throw error("expected an index", at: current) }
            return try makeExpression(kind: .item(target, start), line: line)
        }
        _ = advance()
        let stop = try sliceBound(&self)
        var step: JinjaExpression?
        if isOp(":") {
            _ = advance()
            step = try sliceBound(&self)
        }
        try expectOp("]")
        return try makeExpression(kind: .slice(target, start: start, stop: stop, step: step), line: line)
    }

    private mutating func parseCallArguments() throws -> [JinjaArgument] {
        try expectOp("(")
        var arguments: [JinjaArgument] = []
        while !isOp(")") {
            if !arguments.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            if case let .name(name) = current.kind, isOp("=", peek()) {
                _ = advance()
                _ = advance()
                arguments.append(JinjaArgument(name: name, value: try parseExpression()))
            } else {
                if arguments.contains(where: { $0.name != nil }) { throw error("positional argument after keyword argument", at: current) }
                arguments.append(JinjaArgument(name: nil, value: try parseExpression()))
            }
        }
        _ = advance()
        return arguments
    }

    private mutating func parseFilterExpression(_ start: JinjaExpression) throws -> JinjaExpression {
        var node = start
        while true {
            let line = current.line
            if isOp("|") {
                _ = advance()
                let nameToken = current
                let name = try expectName()
                if softDepth == 0, !JinjaBuiltinNames.filters.contains(name) { unknownNames.append(("no filter named '\(name)'", nameToken)) }
                let arguments = isOp("(") ? try parseCallArguments() : []
                node = try makeExpression(kind: .filter(node, name: name, arguments), line: line)
            } else if isName("is") {
                _ = advance()
                var negated = false
                if isName("not") {
                    _ = advance()
                    negated = true
                }
                let nameToken = current
                let name = try expectName()
                if softDepth == 0, !JinjaBuiltinNames.tests.contains(name) { unknownNames.append(("no test named '\(name)'", nameToken)) }
                var arguments: [JinjaArgument] = []
                if isOp("(") {
                    arguments = try parseCallArguments()
                } else if startsBareTestArgument() {
                    if isName("is") { throw error("you cannot chain multiple tests with is", at: current) }
                    arguments = [JinjaArgument(name: nil, value: try parsePostfix(try parsePrimary()))]
                }
                node = try makeExpression(kind: .test(node, name: name, arguments, negated: negated), line: line)
            } else if isOp("(") {
                node = try makeExpression(kind: .call(node, try parseCallArguments()), line: line)
            } else {
                return node
            }
        }
    }

    /// `x is divisibleby 3`: a test takes one argument without parentheses when one follows.
    private func startsBareTestArgument() -> Bool {
        switch current.kind {
        case let .name(name): return !["else", "or", "and"].contains(name)
        case .string, .integer, .float, .op("["), .op("{"): return true
        default: return false
        }
    }
}
