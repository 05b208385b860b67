/// tokenizer.json's `post_processor`: adds special tokens around an encoded sequence.
/// Only single sequences are encoded here, so only the `single` template is applied.
indirect enum PostProcessor {
    /// TemplateProcessing's `single`: special tokens' ids and `nil` where the sequence goes.
    case template([[Int]?])
    /// Bert and Roberta processing: `cls A sep`.
    case wrap(prefix: Int, suffix: Int)
    /// Processors that change offsets only (ByteLevel).
    case identity
    case sequence([PostProcessor])

    init(field: JSONField) throws {
        let type = try field.typeName()
        switch type {
        case "TemplateProcessing":
            var specialIds: [String: [Int]] = [:]
            let specials = try field.required("special_tokens")
            for (name, special) in try specials.members() {
                specialIds[name] = try special.required("ids").array().map { try $0.int() }
            }
            var pieces: [[Int]?] = []
            for piece in try field.required("single").array() {
                if let special = piece.child("SpecialToken") {
                    let name = try special.requiredString("id")
                    guard let ids = specialIds[name] else {
                        throw TokenizerError.invalidValue(file: field.file, field: special.fieldPath("id"),
                                                          reason: "\"\(name)\" is not in special_tokens")
                    }
                    pieces.append(ids)
                } else if piece.child("Sequence") != nil {
                    pieces.append(nil)
                } else {
                    throw TokenizerError.missingField(file: field.file, field: piece.fieldPath("SpecialToken|Sequence"))
                }
            }
            self = .template(pieces)
        case "BertProcessing", "RobertaProcessing":
            self = .wrap(prefix: try PostProcessor.tokenId(field, "cls"), suffix: try PostProcessor.tokenId(field, "sep"))
        case "ByteLevel":
            self = .identity
        case "Sequence":
            self = .sequence(try field.required("processors").array().map(PostProcessor.init(field:)))
        default:
            throw field.unsupported(type)
        }
    }

    /// Bert/Roberta store a special token as `["[CLS]", 101]`.
    private static func tokenId(_ field: JSONField, _ key: String) throws -> Int {
        let pair = try field.required(key).array()
        guard pair.count == 2 else {
            throw TokenizerError.invalidValue(file: field.file, field: field.fieldPath(key), reason: "expected [token, id]")
        }
        return try pair[1].int()
    }

    func process(_ ids: [Int]) -> [Int] {
        switch self {
        case let .template(pieces):
            return pieces.flatMap { $0 ?? ids }
        case let .wrap(prefix, suffix):
            return [prefix] + ids + [suffix]
        case .identity:
            return ids
        case let .sequence(processors):
            return processors.reduce(ids) { $1.process($0) }
        }
    }
}
