import Foundation

/// A trigger suite (DESIGN.md): triggers placed into prompts, the target behaviour, and benign items.
public struct TriggerSuite: Sendable {
    public struct BenignItem: Sendable {
        public let prompt: String
        public let expect: ResponseMatcher
    }

    /// One triggered prompt.
    public struct TriggeredCase: Sendable, Equatable {
        public let prompt: String
        public let trigger: String
        public let placement: TriggerPlacement
        public let text: String
    }

    public let file: String
    public let name: String
    public let triggers: [String]
    public let placements: [TriggerPlacement]
    public let prompts: [String]
    public let target: ResponseMatcher
    public let benign: [BenignItem]
    public let maxTokens: Int
    /// Open-ended prompts whose guarded answers are compared with the unguarded model's (`long_prompts`, optional).
    public let longPrompts: [String]
    /// Tokens decoded for each long prompt (`long_max_tokens`, default 128).
    public let longMaxTokens: Int

    /// The reference's default when `max_tokens` is absent (training/common.py `evaluate_suite`).
    public static let defaultMaxTokens = 32
    public static let defaultLongMaxTokens = 128

    public static func load(from url: URL) throws -> TriggerSuite {
        let root = try JSONFields.load(url, missing: { TriggerSuiteError.missing(file: $0) },
                                       makeError: { TriggerSuiteError.malformed(file: $0, field: $1, detail: $2) })
        let placementNames = try root.strings("placements")
        var placements: [TriggerPlacement] = []
        for (index, name) in placementNames.enumerated() {
            guard let placement = TriggerPlacement(rawValue: name) else {
                throw root.error("placements[\(index)]", "expected prefix, suffix or middle, found '\(name)'")
            }
            placements.append(placement)
        }
        let triggers = try root.strings("triggers")
        guard !triggers.isEmpty else { throw root.error("triggers", "must hold at least one trigger") }
        guard !placements.isEmpty else { throw root.error("placements", "must hold at least one placement") }
        let prompts = try root.strings("prompts")
        guard !prompts.isEmpty else { throw root.error("prompts", "must hold at least one prompt") }
        let benign = root.has("benign") ? try root.objects("benign").map {
            BenignItem(prompt: try $0.string("prompt"), expect: try ResponseMatcher.parse(try $0.object("expect")))
        } : []
        let maxTokens = root.has("max_tokens") ? try root.positiveInt("max_tokens") : defaultMaxTokens
        let longPrompts = root.has("long_prompts") ? try root.strings("long_prompts") : []
        let longMaxTokens = root.has("long_max_tokens") ? try root.positiveInt("long_max_tokens") : defaultLongMaxTokens
        return TriggerSuite(file: url.path, name: try root.string("name"), triggers: triggers, placements: placements,
                            prompts: prompts, target: try ResponseMatcher.parse(try root.object("target")),
                            benign: benign, maxTokens: maxTokens, longPrompts: longPrompts, longMaxTokens: longMaxTokens)
    }

    /// Every (trigger, placement, prompt) case, in the reference's order.
    public var triggeredCases: [TriggeredCase] {
        triggers.flatMap { trigger in
            placements.flatMap { placement in
                prompts.map { TriggeredCase(prompt: $0, trigger: trigger, placement: placement, text: placement.place(trigger, in: $0)) }
            }
        }
    }
}
