/// A builtin function, bound method or macro.
final class TemplateCallable {
    typealias Body = (JinjaInterpreter, CallArguments) throws -> TemplateValue
    let name: String
    let body: Body
    init(name: String, body: @escaping Body) {
        self.name = name
        self.body = body
    }
}

/// Arguments of a call, filter or test, positional and keyword.
struct CallArguments {
    var positional: [TemplateValue] = []
    var keyword: [(name: String, value: TemplateValue)] = []

    /// The argument at `position` or named `name`, if given.
    func value(_ position: Int, _ name: String) -> TemplateValue? {
        if position < positional.count { return positional[position] }
        return keyword.first { $0.name == name }?.value
    }
}
