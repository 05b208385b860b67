import Foundation

/// A Hugging Face `tokenizer.json` BPE tokenizer whose ids equal the Python `tokenizers` library's.
///
/// The pipeline follows the file's structure: added tokens are cut out first, the rest is normalized,
/// pre-tokenized and merged by the BPE model, and the post-processor adds special tokens.
public final class Tokenizer: @unchecked Sendable {
    let addedVocabulary: AddedVocabulary
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let model: BPEModel
    let postProcessor: PostProcessor?
    let decoder: Decoder?

    /// Max id + 1 over the model vocabulary and the added tokens.
    public let vocabularySize: Int

    /// Ids of added tokens marked `special` (dropped by `decode(skipSpecialTokens: true)`).
    public var specialTokenIds: Set<Int> { addedVocabulary.specialIds }

    /// tokenizer.json nests a handful of levels (Sequence in Sequence at most); deeper is refused before
    /// it can exhaust the stack.
    static let maximumJSONDepth = 512

    /// Loads tokenizer.json; a malformed file throws a `TokenizerError` naming the file and field.
    public convenience init(url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        try self.init(data: data, fileName: url.path)
    }

    public convenience init(data: Data, fileName: String) throws {
        let root: JSONValue
        do {
            // Duplicate keys are kept, as this reader always has: a repeated vocabulary token takes the
            // last id given, a repeated setting the first.
            root = try JSON.parse(data, maximumDepth: Self.maximumJSONDepth, duplicateKeys: .keep)
        } catch let error as JSON.SyntaxError {
            throw TokenizerError.notJSON(file: fileName, reason: error.description)
        }
        try self.init(json: root, fileName: fileName)
    }

    /// A tokenizer from tokenizer.json's document, parsed or built (a GGUF file's tokenizer is built as one).
    init(json root: JSONValue, fileName: String) throws {
        let file = JSONField(value: root, file: fileName)
        guard case .object = root else { throw TokenizerError.notJSON(file: fileName, reason: "the top level is not an object") }

        normalizer = try file.child("normalizer").map(Normalizer.init(field:))
        preTokenizer = try file.child("pre_tokenizer").map(PreTokenizer.init(field:))
        model = try BPEModel(field: try file.required("model"))
        postProcessor = try file.child("post_processor").map(PostProcessor.init(field:))
        decoder = try file.child("decoder").map(Decoder.init(field:))
        let addedTokens = try file.child("added_tokens")?.array().map(AddedToken.init(field:)) ?? []
        addedVocabulary = AddedVocabulary(tokens: addedTokens, normalizer: normalizer)

        let maxModelId = model.tokens.keys.max() ?? -1
        let maxAddedId = addedTokens.map(\.id).max() ?? -1
        vocabularySize = max(maxModelId, maxAddedId) + 1
    }

    /// The ids of `text`, as `tokenizer.encode(text, add_special_tokens=...).ids` in Python.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var ids: [Int] = []
        for segment in addedVocabulary.extractAndNormalize(text, normalizer: normalizer) {
            switch segment {
            case let .token(id):
                ids.append(id)
            case let .text(piece):
                let words = preTokenizer?.preTokenize([piece]) ?? [piece]
                for word in words {
                    ids += model.tokenize(word.text).map(Int.init)
                }
            }
        }
        guard addSpecialTokens, let postProcessor else { return ids }
        return postProcessor.process(ids)
    }

    /// The text of `ids`, as `tokenizer.decode(ids, skip_special_tokens=...)` in Python. Unknown ids are skipped.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            if skipSpecialTokens && addedVocabulary.specialIds.contains(id) { continue }
            if let token = token(forId: id) { tokens.append(token) }
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decode(tokens)
    }

    public func id(forToken token: String) -> Int? {
        addedVocabulary.idForContent[Array(token.utf8)] ?? model.id(forToken: token)
    }

    public func token(forId id: Int) -> String? {
        addedVocabulary.contentForId[id] ?? model.tokens[id]
    }
}
