import Foundation

/// Decodes several answers at once: each step reads every unfinished session's next token in one side-by-side pass,
/// so the weights are read once for all of them (decoding is bound by reading the weights on a CPU; a step over N
/// answers costs far less than N steps). Sessions may start and end at different steps (continuous batching); each
/// answer is what its session alone would give, up to float rounding (the pass's row products run as one matrix
/// product instead of a vector product each).
///
/// Row layout of a pass: the first streams of sessions under a decoding rule (read as prompt tokens), then every
/// generated row — the single stream of a session without a rule and the adapted stream of one with a rule — so that
/// the generated rows are one range, as `LlamaModel.forward(sideBySide:)` takes them.
public struct BatchGenerator {
    public let languageModel: LanguageModel

    public init(_ languageModel: LanguageModel) { self.languageModel = languageModel }

    /// One step for `sessions`: each unfinished one chooses its next token, and all of them are read in one pass.
    /// Returns the sessions still going.
    @discardableResult
    public func step(_ sessions: [GenerationSession]) throws -> [GenerationSession] {
        var going: [(session: GenerationSession, token: Int)] = []
        for session in sessions where !session.isFinished {
            if let token = session.nextToken() { going.append((session, token)) }
        }
        guard !going.isEmpty else { return [] }
        let model = languageModel.model, vocabulary = model.vocabularySize
        if going.count == 1 && going[0].session.adaptedCache == nil {
            let (session, token) = going[0]
            session.read(logits: try model.forward([token], cache: session.cache, phase: .generated), adapted: nil)
            return [session]
        }
        let ruled = going.filter { $0.session.adaptedCache != nil }
        var tokens = ruled.map(\.token), caches = ruled.map(\.session.cache)
        let firstGenerated = tokens.count
        for item in going {
            tokens.append(item.token)
            caches.append(item.session.adaptedCache ?? item.session.cache)
        }
        let logits = try model.forward(sideBySide: tokens, caches: caches, generatedRows: firstGenerated..<tokens.count)
        func row(_ index: Int) -> [Float] { Array(logits[(index * vocabulary)..<((index + 1) * vocabulary)]) }
        var ruledRow = 0
        for (offset, item) in going.enumerated() {
            let generated = row(firstGenerated + offset)
            if item.session.adaptedCache != nil {
                item.session.read(logits: row(ruledRow), adapted: generated)
                ruledRow += 1
            } else {
                item.session.read(logits: generated, adapted: nil)
            }
        }
        return going.map(\.session)
    }

    /// Generates an answer for every request together, to the end of the longest; results in request order.
    public func generate(_ requests: [(promptIds: [Int], options: GenerationOptions)]) throws -> [GenerationResult] {
        let sessions = try requests.map { try GenerationSession(languageModel, promptIds: $0.promptIds, options: $0.options) }
        var going = sessions
        while !going.isEmpty { going = try step(going) }
        return sessions.map { $0.finish() }
    }
}
