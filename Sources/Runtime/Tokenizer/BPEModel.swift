import Foundation

/// tokenizer.json's `model` of type BPE: a vocabulary and ranked merges, applied to each pre-token
/// as in tokenizers' `models/bpe` (lowest rank first, leftmost on ties), with byte fallback,
/// unknown-token fusing, subword prefix/suffix and `ignore_merges`.
final class BPEModel: @unchecked Sendable {
    /// Where merging two symbols leads: the merge's priority and the id of the merged token.
    struct Merge {
        let rank: Int32
        let newId: Int32
    }

    /// Token bytes (not String: String equality is canonical equivalence, vocab keys are exact).
    let vocab: [[UInt8]: Int32]
    let tokens: [Int: String]
    private let merges: [UInt64: Merge]
    private let unknownId: Int32?
    private let fuseUnknown: Bool
    private let byteFallbackIds: [Int32]?
    private let continuingSubwordPrefix: [UInt8]?
    private let endOfWordSuffix: [UInt8]?
    private let ignoreMerges: Bool

    private let cacheLock = NSLock()
    private var cache: [[UInt8]: [Int32]] = [:]
    private static let cacheCapacity = 10_000
    /// Longer words are merged every time, as in the reference (`MAX_LENGTH`): a SentencePiece-style
    /// tokenizer without pre-tokenizer sees whole texts as one word, which would fill the cache.
    private static let cacheableWordLength = 256

    init(field: JSONField) throws {
        let type = try field.optionalString("type") ?? "BPE"
        guard type == "BPE" else { throw field.unsupported(type) }
        if let dropout = try field.child("dropout")?.double(), dropout > 0 {
            throw TokenizerError.invalidValue(file: field.file, field: field.fieldPath("dropout"),
                                              reason: "BPE dropout \(dropout) is random; only null or 0 is supported")
        }
        var vocab: [[UInt8]: Int32] = [:]
        var tokens: [Int: String] = [:]
        for (token, idField) in try field.required("vocab").members() {
            let id = try idField.int()
            guard id >= 0, id <= Int(Int32.max) else {
                throw TokenizerError.invalidValue(file: field.file, field: idField.path, reason: "id \(id) out of range")
            }
            vocab[Array(token.utf8)] = Int32(id)
            tokens[id] = token
        }
        self.vocab = vocab
        self.tokens = tokens

        let prefix = try field.optionalString("continuing_subword_prefix").map { Array($0.utf8) }
        continuingSubwordPrefix = prefix
        endOfWordSuffix = try field.optionalString("end_of_word_suffix").map { Array($0.utf8) }
        ignoreMerges = try field.bool("ignore_merges", default: false)
        fuseUnknown = try field.bool("fuse_unk", default: false)

        if let unknown = try field.optionalString("unk_token") {
            guard let id = vocab[Array(unknown.utf8)] else {
                throw TokenizerError.invalidValue(file: field.file, field: field.fieldPath("unk_token"),
                                                  reason: "\"\(unknown)\" is not in model.vocab")
            }
            unknownId = id
        } else {
            unknownId = nil
        }

        if try field.bool("byte_fallback", default: false) {
            // A byte without its <0xXX> token makes the whole character fall back to unk, as in the reference.
            var ids: [Int32] = []
            for byte in 0..<256 {
                ids.append(vocab[Array(BPEModel.byteToken(UInt8(byte)).utf8)] ?? -1)
            }
            byteFallbackIds = ids
        } else {
            byteFallbackIds = nil
        }

        let mergesField = try field.required("merges")
        var merges: [UInt64: Merge] = [:]
        let entries = try mergesField.array()
        merges.reserveCapacity(entries.count)
        for (rank, entry) in entries.enumerated() {
            let (left, right) = try BPEModel.mergePair(entry)
            guard let leftId = vocab[left] else {
                throw TokenizerError.unknownMergeToken(file: field.file, field: entry.path,
                                                       token: String(decoding: left, as: UTF8.self))
            }
            guard let rightId = vocab[right] else {
                throw TokenizerError.unknownMergeToken(file: field.file, field: entry.path,
                                                       token: String(decoding: right, as: UTF8.self))
            }
            // The merged token drops the right side's continuing-subword prefix (models/bpe/model.rs).
            let dropped = min(prefix?.count ?? 0, right.count)
            let merged = left + right[dropped...]
            guard let newId = vocab[merged] else {
                throw TokenizerError.unknownMergeToken(file: field.file, field: entry.path,
                                                       token: String(decoding: merged, as: UTF8.self))
            }
            let key = BPEModel.pairKey(leftId, rightId)
            if merges[key] == nil { merges[key] = Merge(rank: Int32(rank), newId: newId) }
        }
        self.merges = merges
    }

    /// A merge is `"left right"` (older files) or `["left", "right"]` (newer files).
    private static func mergePair(_ entry: JSONField) throws -> ([UInt8], [UInt8]) {
        switch entry.value {
        case let .string(text):
            let bytes = Array(text.utf8)
            guard let space = bytes.firstIndex(of: UInt8(ascii: " ")),
                  bytes[(space + 1)...].firstIndex(of: UInt8(ascii: " ")) == nil else {
                throw TokenizerError.invalidValue(file: entry.file, field: entry.path,
                                                  reason: "a merge string must hold two tokens separated by one space")
            }
            return (Array(bytes[..<space]), Array(bytes[(space + 1)...]))
        case let .array(parts):
            guard parts.count == 2, case let .string(left) = parts[0], case let .string(right) = parts[1] else {
                throw TokenizerError.invalidValue(file: entry.file, field: entry.path,
                                                  reason: "a merge array must hold two strings")
            }
            return (Array(left.utf8), Array(right.utf8))
        default:
            throw entry.wrongType("a string or an array of two strings")
        }
    }

    static func byteToken(_ byte: UInt8) -> String {
        let hex = String(byte, radix: 16, uppercase: true)
        return "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
    }

    private static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    func id(forToken token: String) -> Int? {
        vocab[Array(token.utf8)].map(Int.init)
    }

    /// The ids of one pre-token.
    func tokenize(_ word: String) -> [Int32] {
        let bytes = Array(word.utf8)
        if bytes.isEmpty { return [] }
        if ignoreMerges, let id = vocab[bytes] { return [id] }
        cacheLock.lock()
        let cached = cache[bytes]
        cacheLock.unlock()
        if let cached { return cached }
        let ids = mergeWord(bytes)
        cacheLock.lock()
        if cache.count < BPEModel.cacheCapacity, bytes.count < BPEModel.cacheableWordLength { cache[bytes] = ids }
        cacheLock.unlock()
        return ids
    }

    /// One symbol per character (with prefix/suffix, byte fallback or unk), then all merges.
    private func mergeWord(_ bytes: [UInt8]) -> [Int32] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(bytes.count)
        var pendingUnknown = false
        var start = 0
        while start < bytes.count {
            var end = start + 1
            while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
            var piece = Array(bytes[start..<end])
            if start > 0, let prefix = continuingSubwordPrefix { piece = prefix + piece }
            if end == bytes.count, let suffix = endOfWordSuffix { piece += suffix }
            defer { start = end }
            if let id = vocab[piece] {
                if pendingUnknown, let unknownId { symbols.append(unknownId); pendingUnknown = false }
                symbols.append(id)
                continue
            }
            if let byteIds = byteFallbackIds {
                let ids = piece.map { byteIds[Int($0)] }
                if !ids.contains(-1) {
                    // The reference appends the bytes before any pending unk token is flushed.
                    symbols.append(contentsOf: ids)
                    continue
                }
            }
            if let unknownId {
                if pendingUnknown && !fuseUnknown { symbols.append(unknownId) }
                pendingUnknown = true
            }
        }
        if pendingUnknown, let unknownId { symbols.append(unknownId) }
        return applyMerges(symbols)
    }

    /// tokenizers' `Word::merge_all`: a priority queue of (rank, position) over a linked list of symbols.
    private func applyMerges(_ initial: [Int32]) -> [Int32] {
        let count = initial.count
        if count < 2 { return initial }
        var ids = initial
        var previous = Array(-1..<(count - 1))
        var next = Array(1...count)
        var alive = [Bool](repeating: true, count: count)
        var queue = MergeQueue()
        for position in 0..<(count - 1) {
            if let merge = merges[BPEModel.pairKey(ids[position], ids[position + 1])] {
                queue.push(.init(rank: merge.rank, position: Int32(position), newId: merge.newId))
            }
        }
        while let top = queue.pop() {
            let position = Int(top.position)
            guard alive[position], next[position] < count else { continue }
            let right = next[position]
            guard let merge = merges[BPEModel.pairKey(ids[position], ids[right])], merge.newId == top.newId else {
                continue
            }
            ids[position] = top.newId
            alive[right] = false
            next[position] = next[right]
            if next[right] < count { previous[next[right]] = position }
            if previous[position] >= 0 {
                let left = previous[position]
                if let merge = merges[BPEModel.pairKey(ids[left], ids[position])] {
                    queue.push(.init(rank: merge.rank, position: Int32(left), newId: merge.newId))
                }
            }
            if next[position] < count, let merge = merges[BPEModel.pairKey(ids[position], ids[next[position]])] {
                queue.push(.init(rank: merge.rank, position: Int32(position), newId: merge.newId))
            }
        }
        var output: [Int32] = []
        var position = 0
        while position < count {
            output.append(ids[position])
            position = next[position]
        }
        return output
    }
}

/// A binary min-heap of candidate merges ordered by (rank, position).
struct MergeQueue {
    struct Entry {
        let rank: Int32
        let position: Int32
        let newId: Int32

        func precedes(_ other: Entry) -> Bool {
            rank != other.rank ? rank < other.rank : position < other.position
        }
    }

    private var heap: [Entry] = []

    mutating func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < heap.count, heap[left].precedes(heap[smallest]) { smallest = left }
                if right < heap.count, heap[right].precedes(heap[smallest]) { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
