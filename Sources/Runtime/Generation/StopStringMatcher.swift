/// Holds back streamed text that could still become a stop string, and finds the first complete one.
struct StopStringMatcher {
    let stopStrings: [String]
    private(set) var text = ""
    private var emitted = 0

    init(stopStrings: [String]) { self.stopStrings = stopStrings.filter { !$0.isEmpty } }

    /// Adds decoded text; returns the text now safe to emit and whether a stop string completed.
    mutating func append(_ delta: String) -> (emit: String, stopped: Bool) {
        text += delta
        if let range = stopStrings.compactMap({ text.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            text = String(text[..<range.lowerBound])
            return (takeUntil(text.count), true)
        }
        // Text ending in a proper prefix of a stop string might still complete it: keep it back.
        var holdBack = 0
        for stop in stopStrings {
            for length in stride(from: min(stop.count - 1, text.count), to: 0, by: -1)
            where text.hasSuffix(stop.prefix(length)) {
                holdBack = max(holdBack, length)
                break
            }
        }
        return (takeUntil(text.count - holdBack), false)
    }

    /// Everything not yet emitted (at the end of generation).
    mutating func flush() -> String { takeUntil(text.count) }

    private mutating func takeUntil(_ end: Int) -> String {
        guard end > emitted else { return "" }
        let start = text.index(text.startIndex, offsetBy: emitted)
        let stop = text.index(text.startIndex, offsetBy: end)
        emitted = end
        return String(text[start..<stop])
    }
}
