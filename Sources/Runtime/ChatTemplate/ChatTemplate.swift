import Foundation

/// A Hugging Face chat template, parsed once and rendered like transformers'
/// `apply_chat_template(..., tokenize=False)`: the template sees `messages`, `tools` and `documents`
/// (None unless given), `add_generation_prompt`, `bos_token`, `eos_token`, and any extra variables;
/// rendering uses trim_blocks and lstrip_blocks, transformers' `tojson`, `raise_exception` and `strftime_now`.
public struct ChatTemplate: Sendable {
    public let source: String
    private let body: [JinjaStatement]
    private let now: @Sendable () -> Date

    /// Parses `source`; a syntax error names its line and column.
    public init(source: String) throws {
        try self.init(source: source, now: { Date() })
    }

    /// `now` is the clock `strftime_now` reads (tests pin it).
    public init(source: String, now: @escaping @Sendable () -> Date) throws {
        self.source = source
        self.now = now
        body = try JinjaParser.parse(source)
    }

    public func render(messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String = "", eosToken: String = "",
                       extraContext: [String: JinjaValue] = [:]) throws -> String
    {
        try render(conversation: messages.map(JinjaValue.init), addGenerationPrompt: addGenerationPrompt,
                   bosToken: bosToken, eosToken: eosToken, extraContext: extraContext)
    }

    /// Messages as arbitrary objects, for tool calls (`tool_calls`, `tool_call_id`, structured content).
    /// Keys whose value is null are dropped, as `apply_chat_template` does.
    public func render(conversation: [JinjaValue], addGenerationPrompt: Bool, bosToken: String = "", eosToken: String = "",
                       extraContext: [String: JinjaValue] = [:]) throws -> String
    {
        let messages = conversation.map { message -> TemplateValue in
            guard case let .object(object) = message else { return TemplateValue(message) }
            return TemplateValue(.object(JinjaObject(object.pairs.filter { $0.value != JinjaValue.none }.map { ($0.key, $0.value) })))
        }
        var context: [String: TemplateValue] = [
            "messages": .list(messages),
            "tools": .none,
            "documents": .none,
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
        ]
        for (name, value) in extraContext { context[name] = TemplateValue(value) }
        return try renderTemplate(context: context)
    }

    /// Renders with exactly the variables given (plus the builtins), for templates outside chat use.
    public func render(context: [String: JinjaValue]) throws -> String {
        try renderTemplate(context: context.mapValues(TemplateValue.init))
    }

    private func renderTemplate(context: [String: TemplateValue]) throws -> String {
        let environment = JinjaEnvironment(globals: JinjaGlobals.make(now: now), context: context)
        return try JinjaInterpreter(environment: environment).render(body)
    }
}
