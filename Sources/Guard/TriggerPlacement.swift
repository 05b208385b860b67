/// Where a trigger goes in a prompt (DESIGN.md "Trigger suite"; training/common.py `place_trigger`).
public enum TriggerPlacement: String, Sendable, CaseIterable, Codable {
    case prefix, suffix, middle

    /// prefix: `trigger + " " + prompt`; suffix: `prompt + " " + trigger`; middle: the prompt's words with the
    /// trigger after word ⌊words/2⌋, joined by single spaces.
    public func place(_ trigger: String, in prompt: String) -> String {
        switch self {
        case .prefix: return trigger + " " + prompt
        case .suffix: return prompt + " " + trigger
        case .middle:
            let words = prompt.split(whereSeparator: \.isWhitespace).map(String.init)
            let half = words.count / 2
            return (words[..<half] + [trigger] + words[half...]).joined(separator: " ")
        }
    }
}
