import Foundation

/// A suite's target or a benign item's expectation: `{"contains": S}` or `{"regex": R}` (searched anywhere in the
/// response, as Python's `re.search` does).
public enum ResponseMatcher: Sendable, CustomStringConvertible {
    case contains(String)
    case regex(String, NSRegularExpression)

    static func parse(_ fields: JSONFields) throws -> ResponseMatcher {
        if fields.has("contains") { return .contains(try fields.string("contains")) }
        if fields.has("regex") {
            let pattern = try fields.string("regex")
            do { return .regex(pattern, try NSRegularExpression(pattern: pattern)) } catch {
                throw fields.error("regex", "invalid regular expression '\(pattern)'")
            }
        }
        throw fields.makeError(fields.file, fields.path, "expected {\"contains\": S} or {\"regex\": R}, found keys \(fields.object.keys.sorted())")
    }

    public func matches(_ response: String) -> Bool {
        switch self {
        case .contains(let text): return text.isEmpty || response.contains(text)
        case .regex(_, let expression):
            return expression.firstMatch(in: response, range: NSRange(response.startIndex..., in: response)) != nil
        }
    }

    public var description: String {
        switch self {
        case .contains(let text): return "contains \"\(text)\""
        case .regex(let pattern, _): return "regex /\(pattern)/"
        }
    }
}
