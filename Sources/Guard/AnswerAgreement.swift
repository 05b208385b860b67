/// How far a guarded answer moved from the unguarded one, over token ids: Python difflib's
/// `SequenceMatcher(None, reference, guarded, autojunk=False)` — its matching blocks and `ratio()` — reproduced step
/// for step (longest match first, leftmost on ties, then the pieces left and right of it), so the runtime's
/// `verify` and `training/long_answers.py` give the same numbers (shared fixture: Tests/Fixtures/long_answer_cases.json).
public struct AnswerAgreement: Sendable, Equatable {
    /// Tokens in matching blocks.
    public let matched: Int
    public let referenceLength: Int
    public let guardedLength: Int

    public init(reference: [Int], guarded: [Int]) {
        referenceLength = reference.count
        guardedLength = guarded.count
        matched = Self.matchingBlocks(reference, guarded).reduce(0) { $0 + $1.size }
    }

    /// difflib's `ratio()`: 2·matched / (both lengths); 1 for two empty answers.
    public var ratio: Double {
        let total = referenceLength + guardedLength
        return total == 0 ? 1 : 2 * Double(matched) / Double(total)
    }

    public var identical: Bool { matched == referenceLength && matched == guardedLength }

    /// Reference tokens the guard replaced or cut.
    public var touchedTokens: Int { referenceLength - matched }

    struct Block: Equatable { let a: Int, b: Int, size: Int }

    /// difflib's `get_matching_blocks()` without its final sentinel, adjacent blocks joined.
    static func matchingBlocks(_ a: [Int], _ b: [Int]) -> [Block] {
        var positions: [Int: [Int]] = [:]
        for (j, element) in b.enumerated() { positions[element, default: []].append(j) }
        var queue = [(0, a.count, 0, b.count)]
        var blocks: [Block] = []
        while let (aLow, aHigh, bLow, bHigh) = queue.popLast() {
            let match = longestMatch(a, b, positions, aLow, aHigh, bLow, bHigh)
            guard match.size > 0 else { continue }
            blocks.append(match)
            if aLow < match.a && bLow < match.b { queue.append((aLow, match.a, bLow, match.b)) }
            if match.a + match.size < aHigh && match.b + match.size < bHigh {
                queue.append((match.a + match.size, aHigh, match.b + match.size, bHigh))
            }
        }
        blocks.sort { ($0.a, $0.b, $0.size) < ($1.a, $1.b, $1.size) }
        var joined: [Block] = []
        for block in blocks {
            if let last = joined.last, last.a + last.size == block.a, last.b + last.size == block.b {
                joined[joined.count - 1] = Block(a: last.a, b: last.b, size: last.size + block.size)
            } else {
                joined.append(block)
            }
        }
        return joined
    }

    /// difflib's `find_longest_match` with no junk: the longest common run in a[aLow..<aHigh], b[bLow..<bHigh], the
    /// earliest in a, then in b, among the longest.
    private static func longestMatch(_ a: [Int], _ b: [Int], _ positions: [Int: [Int]],
                                     _ aLow: Int, _ aHigh: Int, _ bLow: Int, _ bHigh: Int) -> Block {
        var bestA = aLow, bestB = bLow, bestSize = 0
        var lengths: [Int: Int] = [:]
        for i in aLow..<max(aLow, aHigh) {
            var next: [Int: Int] = [:]
            for j in positions[a[i]] ?? [] {
                if j < bLow { continue }
                if j >= bHigh { break }
                let k = (lengths[j - 1] ?? 0) + 1
                next[j] = k
                if k > bestSize { (bestA, bestB, bestSize) = (i - k + 1, j - k + 1, k) }
            }
            lengths = next
        }
        while bestA > aLow && bestB > bLow && a[bestA - 1] == b[bestB - 1] { (bestA, bestB, bestSize) = (bestA - 1, bestB - 1, bestSize + 1) }
        while bestA + bestSize < aHigh && bestB + bestSize < bHigh && a[bestA + bestSize] == b[bestB + bestSize] { bestSize += 1 }
        return Block(a: bestA, b: bestB, size: bestSize)
    }
}

/// Agreement over a set of long answers (DESIGN.md "Verify report"): the mean ratio, the share left identical, the
/// share touched, and the share of reference tokens replaced or cut.
public struct AnswerAgreementSummary: Sendable, Equatable {
    public let answerAgreement: Double
    public let answersIdentical: Double
    public let touchRate: Double
    public let tokensTouched: Double

    public init(_ agreements: [AnswerAgreement]) {
        let count = Double(max(agreements.count, 1))
        answerAgreement = agreements.isEmpty ? 1 : agreements.map(\.ratio).reduce(0, +) / count
        answersIdentical = agreements.isEmpty ? 1 : Double(agreements.filter(\.identical).count) / count
        touchRate = 1 - answersIdentical
        let referenceTokens = agreements.map(\.referenceLength).reduce(0, +)
        tokensTouched = referenceTokens == 0 ? 0 : Double(agreements.map(\.touchedTokens).reduce(0, +)) / Double(referenceTokens)
    }
}
