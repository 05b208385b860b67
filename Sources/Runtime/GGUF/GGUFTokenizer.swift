import Foundation

/// The tokenizer a GGUF file describes in its `tokenizer.ggml.*` metadata, rebuilt as the tokenizer.json document
/// transformers' GGUF loader builds from the same keys (`integrations/gguf/gguf_tokenizer_mapping.py`), so token ids
/// equal `AutoTokenizer.from_pretrained(dir, gguf_file=...)`:
///
/// - `gpt2` (byte-level BPE): vocabulary from `tokens` (a token outside the byte alphabet is respelled byte by
///   byte), `merges`; the split regex chosen by `tokenizer.ggml.pre` (`llama-bpe`: Llama-3's, `qwen2`: Qwen2's;
///   `default`, `gpt2`, `smollm` and others: GPT-2's, which for SmolLM2's vocabulary — no merges across digits —
///   splits as llama.cpp's `smollm` rule does).
/// - `llama` (SentencePiece-style BPE with byte fallback): Metaspace pre-tokenizer, `▁` decoding, BOS added unless
///   `add_bos_token` is false.
///
/// Control tokens (type 3) become special added tokens, user-defined ones (type 4) plain added tokens.
struct GGUFTokenizer {
    let tokenizer: Tokenizer
    let bosToken: String?
    let eosToken: String?
    let chatTemplate: String?
    /// `tokenizer.ggml.eos_token_id`, and `eot_token_id` / `eom_token_id` where given (llama.cpp ends on them too).
    let endTokenIds: Set<Int>

    /// llama.cpp's `llama_token_type`.
    enum TokenType: Int { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    static let splitPatterns: [String: String] = {
        let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        let qwen2 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        var patterns: [String: String] = [:]
        for name in ["llama3", "llama-v3", "llama-bpe", "falcon3", "smaug-bpe", "dbrx", "pixtral"] { patterns[name] = llama3 }
        for name in ["qwen2", "deepseek-r1-qwen", "megrez"] { patterns[name] = qwen2 }
        return patterns
    }()

    init(file: GGUFFile) throws {
        let path = file.url.path
        let model = try file.requiredString("tokenizer.ggml.model")
        guard let tokens = try file.array("tokenizer.ggml.tokens", of: "strings", { $0.string }) else {
            throw GGUFError.missingKey(file: path, key: "tokenizer.ggml.tokens")
        }
        let types = try file.array("tokenizer.ggml.token_type", of: "integers", { $0.integer }) ?? []
        guard types.isEmpty || types.count == tokens.count else {
            throw GGUFError.invalidValue(file: path, key: "tokenizer.ggml.token_type",
                                         detail: "\(types.count) entries for \(tokens.count) tokens")
        }
        func tokenText(_ key: String) throws -> (id: Int, text: String)? {
            guard let id = try file.integer(key) else { return nil }
            guard tokens.indices.contains(id) else {
                throw GGUFError.invalidValue(file: path, key: key, detail: "id \(id) is not among the \(tokens.count) tokens")
            }
            return (id, tokens[id])
        }
        let bos = try tokenText("tokenizer.ggml.bos_token_id")
        let eos = try tokenText("tokenizer.ggml.eos_token_id")
        bosToken = bos?.text
        eosToken = eos?.text
        endTokenIds = Set(try [eos, tokenText("tokenizer.ggml.eot_token_id"), tokenText("tokenizer.ggml.eom_token_id")]
            .compactMap { $0?.id })
        chatTemplate = try file.string("tokenizer.chat_template")

        let document: JSONValue
        switch model {
        case "gpt2":
            var addBOS = try file.bool("tokenizer.ggml.add_bos_token") ?? false
            var addEOS = try file.bool("tokenizer.ggml.add_eos_token") ?? false
            if bos == nil { addBOS = false }
            if eos == nil { addEOS = false }
            let merges = try Self.mergePairs(file) ?? []
            let split = try file.string("tokenizer.ggml.pre").flatMap { Self.splitPatterns[$0] }
            document = Self.byteLevelDocument(tokens: tokens, types: types, merges: merges, split: split,
                                              post: Self.template(bos: addBOS ? bos : nil, eos: addEOS ? eos : nil))
        case "llama":
            // Older files have no flag; llama.cpp and transformers add BOS to a SentencePiece vocabulary then.
            let addBOS = (try file.bool("tokenizer.ggml.add_bos_token") ?? true) && bos != nil
            let addEOS = (try file.bool("tokenizer.ggml.add_eos_token") ?? false) && eos != nil
            let merges = try Self.mergePairs(file)
                ?? Self.mergesFromScores(tokens: tokens, scores: try file.array("tokenizer.ggml.scores", of: "numbers", { $0.number }) ?? [])
            document = Self.sentencePieceDocument(tokens: tokens, types: types, merges: merges,
                                                  post: Self.template(bos: addBOS ? bos : nil, eos: addEOS ? eos : nil))
        default:
            throw GGUFError.unsupportedTokenizer(file: path, model: model)
        }
        tokenizer = try Tokenizer(json: document, fileName: path + " (tokenizer.ggml.*)")
    }

    /// Tokenizer, chat template (`tokenizer.chat_template`) and special tokens as a `ChatFormatter`.
    func formatter(file: String) throws -> ChatFormatter {
        var template: ChatTemplate?
        if let chatTemplate {
            do { template = try ChatTemplate(source: chatTemplate) } catch {
                throw ChatTemplateLoadError(file: file + " (tokenizer.chat_template)", underlying: "\(error)")
            }
        }
        return ChatFormatter(tokenizer: tokenizer, chatTemplate: template, bosToken: bosToken, eosToken: eosToken,
                             templateFile: file + " (tokenizer.chat_template)")
    }

    // MARK: tokenizer.json documents

    /// `tokenizer.ggml.merges` ("left right" strings) as pairs, split at the first space as transformers does.
    private static func mergePairs(_ file: GGUFFile) throws -> [(String, String)]? {
        try file.array("tokenizer.ggml.merges", of: "strings", { $0.string })?.map { merge in
            guard let space = merge.firstIndex(of: " ") else { return (merge, "") }
            return (String(merge[..<space]), String(merge[merge.index(after: space)...]))
        }
    }

    private static func mergesJSON(_ merges: [(String, String)]) -> JSONValue {
        .array(merges.map { .array([.string($0.0), .string($0.1)]) })
    }

    private static func byteLevelDocument(tokens: [String], types: [Int], merges: [(String, String)], split: String?,
                                          post: JSONValue) -> JSONValue {
        let alphabet = Set(ByteLevelAlphabet.scalarForByte)
        let vocabulary: [(key: String, value: JSONValue)] = tokens.enumerated().map { id, token in
            let spelled = token.unicodeScalars.allSatisfy(alphabet.contains) ? token : ByteLevelAlphabet.encode(token)
            return (spelled, .integer(id))
        }
        // A control or user-defined token written outside the byte alphabet is not in the vocabulary as spelled
        // (a converter mislabel); transformers skips it.
        let added = addedTokens(tokens: tokens, types: types) { $0.unicodeScalars.allSatisfy(alphabet.contains) }
        let preTokenizer: JSONValue
        if let split {
            preTokenizer = object([("type", "Sequence"), ("pretokenizers", .array([
                object([("type", "Split"), ("pattern", object([("Regex", .string(split))])), ("behavior", "Isolated"),
                        ("invert", .bool(false))]),
                object([("type", "ByteLevel"), ("add_prefix_space", .bool(false)), ("trim_offsets", .bool(true)),
                        ("use_regex", .bool(false))]),
            ]))])
        } else {
            preTokenizer = object([("type", "ByteLevel"), ("add_prefix_space", .bool(false)), ("trim_offsets", .bool(true)),
                                   ("use_regex", .bool(true))])
        }
        return object([
            ("added_tokens", .array(added)), ("normalizer", .null), ("pre_tokenizer", preTokenizer), ("post_processor", post),
            ("decoder", object([("type", "ByteLevel"), ("add_prefix_space", .bool(true)), ("trim_offsets", .bool(true)),
                                ("use_regex", .bool(true))])),
            ("model", object([("type", "BPE"), ("dropout", .null), ("unk_token", .null), ("fuse_unk", .bool(false)),
                              ("byte_fallback", .bool(false)), ("ignore_merges", .bool(false)),
                              ("vocab", .object(vocabulary)), ("merges", mergesJSON(merges))])),
        ])
    }

    private static func sentencePieceDocument(tokens: [String], types: [Int], merges: [(String, String)],
                                              post: JSONValue) -> JSONValue {
        let vocabulary: [(key: String, value: JSONValue)] = tokens.enumerated().map { ($1, .integer($0)) }
        let added = addedTokens(tokens: tokens, types: types) { _ in true }
        return object([
            ("added_tokens", .array(added)), ("normalizer", .null),
            ("pre_tokenizer", object([("type", "Metaspace"), ("replacement", "▁"), ("prepend_scheme", "first"),
                                      ("split", .bool(false))])),
            ("post_processor", post),
            ("decoder", object([("type", "Sequence"), ("decoders", .array([
                object([("type", "Replace"), ("pattern", object([("String", "▁")])), ("content", " ")]),
                object([("type", "ByteFallback")]), object([("type", "Fuse")]),
                object([("type", "Strip"), ("content", " "), ("start", .integer(1)), ("stop", .integer(0))]),
            ]))])),
            ("model", object([("type", "BPE"), ("dropout", .null), ("unk_token", .null),
                              ("fuse_unk", .bool(true)), ("byte_fallback", .bool(true)), ("ignore_merges", .bool(false)),
                              ("vocab", .object(vocabulary)), ("merges", mergesJSON(merges))])),
        ])
    }

    /// Control tokens as special added tokens, user-defined ones as plain added tokens (both matched whole), where
    /// `keep` accepts the token's spelling.
    private static func addedTokens(tokens: [String], types: [Int], keep: (String) -> Bool) -> [JSONValue] {
        var added: [JSONValue] = []
        for (id, type) in types.enumerated() {
            let special: Bool
            switch TokenType(rawValue: type) {
            case .control? where keep(tokens[id]): special = true
            case .userDefined? where keep(tokens[id]): special = false
            default: continue
            }
            added.append(object([("id", .integer(id)), ("content", .string(tokens[id])), ("single_word", .bool(false)),
                                 ("lstrip", .bool(false)), ("rstrip", .bool(false)), ("normalized", .bool(false)),
                                 ("special", .bool(special))]))
        }
        return added
    }

    /// `[bos] $A [eos]` as transformers' `update_post_processor` writes it.
    private static func template(bos: (id: Int, text: String)?, eos: (id: Int, text: String)?) -> JSONValue {
        var single: [JSONValue] = []
        var specials: [(key: String, value: JSONValue)] = []
        func special(_ token: (id: Int, text: String)) -> JSONValue {
            if !specials.contains(where: { $0.key == token.text }) {
                specials.append((token.text, object([("id", .string(token.text)), ("ids", .array([.integer(token.id)])),
                                                     ("tokens", .array([.string(token.text)]))])))
            }
            return object([("SpecialToken", object([("id", .string(token.text)), ("type_id", .integer(0))]))])
        }
        if let bos { single.append(special(bos)) }
        single.append(object([("Sequence", object([("id", "A"), ("type_id", .integer(0))]))]))
        if let eos { single.append(special(eos)) }
        return object([("type", "TemplateProcessing"), ("single", .array(single)), ("special_tokens", .object(specials))])
    }

    /// Merges implied by a vocabulary without a merge list, as transformers' `generate_merges` derives them: for each
    /// token (first-occurrence order) every split into two vocabulary tokens, those ordered by the pieces' ids; then
    /// all of them by score, left length, right length, highest first, ties kept in that order. Lengths and splits
    /// count Unicode scalars (Python code points).
    static func mergesFromScores(tokens: [String], scores: [Double]) -> [(String, String)] {
        var ids: [[UInt8]: Int] = [:]
        var scoreOf: [[UInt8]: Double] = [:]
        var order: [String] = []
        for (id, token) in tokens.enumerated() {
            let key = Array(token.utf8)
            if scoreOf[key] == nil { order.append(token) }
            ids[key] = id
            scoreOf[key] = scores.indices.contains(id) ? scores[id] : 0
        }
        var merges: [(left: String, right: String, score: Double, leftLength: Int, rightLength: Int)] = []
        for token in order {
            let scalars = Array(token.unicodeScalars)
            guard scalars.count > 1 else { continue }
            var local: [(left: String, right: String, leftId: Int, rightId: Int)] = []
            for cut in 1..<scalars.count {
                var left = String.UnicodeScalarView(), right = String.UnicodeScalarView()
                left.append(contentsOf: scalars[..<cut])
                right.append(contentsOf: scalars[cut...])
                let leftText = String(left), rightText = String(right)
                if let leftId = ids[Array(leftText.utf8)], let rightId = ids[Array(rightText.utf8)] {
                    local.append((leftText, rightText, leftId, rightId))
                }
            }
            local.sort { ($0.leftId, $0.rightId) < ($1.leftId, $1.rightId) }
            let score = scoreOf[Array(token.utf8)] ?? 0
            merges += local.map { ($0.left, $0.right, score, $0.left.unicodeScalars.count, $0.right.unicodeScalars.count) }
        }
        let ranked = merges.enumerated().sorted { a, b in
            let x = a.element, y = b.element
            if (x.score, x.leftLength, x.rightLength) != (y.score, y.leftLength, y.rightLength) {
                return (x.score, x.leftLength, x.rightLength) > (y.score, y.leftLength, y.rightLength)
            }
            return a.offset < b.offset
        }
        return ranked.map { ($0.element.left, $0.element.right) }
    }

    private static func object(_ members: [(String, JSONValue)]) -> JSONValue {
        .object(members.map { (key: $0.0, value: $0.1) })
    }
}

extension JSONValue: ExpressibleByStringLiteral {
    init(stringLiteral value: String) { self = .string(value) }
}
