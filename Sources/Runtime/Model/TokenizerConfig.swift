import Foundation

/// The parts of `tokenizer_config.json` (and `chat_template.jinja`) that generation needs.
struct TokenizerConfig {
    struct TemplateSource { let text: String; let file: String }
    var bosToken: String?
    var eosToken: String?
    var chatTemplate: TemplateSource?

    static func load(directory: URL) throws -> TokenizerConfig {
        var result = TokenizerConfig()
        let url = directory.appendingPathComponent("tokenizer_config.json")
        if let data = FileManager.default.contents(atPath: url.path) {
            // Read with the runtime's parser: swift-corelibs' JSONSerialization drops U+FEFF inside strings.
            // A repeated key is kept and read as its last value, as Python's json.load (transformers) does.
            let object: JSONValue
            do {
                object = try JSON.parse(data, maximumDepth: Tokenizer.maximumJSONDepth, duplicateKeys: .keep)
            } catch let error as JSON.SyntaxError {
                throw ModelConfigError.malformed(file: url.path, detail: "not valid JSON: \(error)")
            }
            guard case .object = object else { throw ModelConfigError.malformed(file: url.path, detail: "not a JSON object") }
            result.bosToken = tokenText(object.lastValue(forKey: "bos_token"))
            result.eosToken = tokenText(object.lastValue(forKey: "eos_token"))
            switch object.lastValue(forKey: "chat_template") {
            case let .string(template)?:
                result.chatTemplate = TemplateSource(text: template, file: url.path)
            case let .array(named)? where named.allSatisfy(Self.isObject):
                // A list of named templates: the one called "default" is what apply_chat_template uses.
                let chosen = named.first { $0.lastValue(forKey: "name") == .string("default") } ?? named.first
                if case let .string(text)? = chosen?.lastValue(forKey: "template") {
                    result.chatTemplate = TemplateSource(text: text, file: url.path)
                }
            default:
                break
            }
        }
        // transformers ≥ 4.43 saves the template beside the config and prefers that file.
        let jinja = directory.appendingPathComponent("chat_template.jinja")
        if let data = FileManager.default.contents(atPath: jinja.path) {
            guard let text = String(data: data, encoding: .utf8) else {
                throw ModelConfigError.malformed(file: jinja.path, detail: "not valid UTF-8")
            }
            result.chatTemplate = TemplateSource(text: text, file: jinja.path)
        }
        return result
    }

    /// Special tokens are written as a string or as an AddedToken object with `content`.
    private static func tokenText(_ value: JSONValue?) -> String? {
        if case let .string(text)? = value { return text }
        if case let .string(text)? = value?.lastValue(forKey: "content") { return text }
        return nil
    }

    private static func isObject(_ value: JSONValue) -> Bool {
        if case .object = value { return true }
        return false
    }
}

/// `generation_config.json`: end-of-sequence ids and sampling defaults.
struct GenerationConfig: Decodable {
    var eosTokenId: TokenIdList?
    var doSample: Bool?
    var temperature: Double?
    var topK: Int?
    var topP: Double?
    var minP: Double?
    var repetitionPenalty: Double?

    enum CodingKeys: String, CodingKey {
        case eosTokenId = "eos_token_id", doSample = "do_sample", temperature, topK = "top_k", topP = "top_p"
        case minP = "min_p", repetitionPenalty = "repetition_penalty"
    }

    static func load(directory: URL) throws -> GenerationConfig? {
        let url = directory.appendingPathComponent("generation_config.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        do { return try JSONDecoder().decode(GenerationConfig.self, from: data) } catch let error as DecodingError {
            throw ModelConfigError.malformed(file: url.path, detail: ModelConfig.describe(error))
        }
    }

    var sampling: SamplingParameters {
        var parameters = SamplingParameters()
        if doSample == true {
            parameters.temperature = Float(temperature ?? 1)
            parameters.topK = topK ?? 50
            parameters.topP = Float(topP ?? 1)
            parameters.minP = Float(minP ?? 0)
        }
        parameters.repetitionPenalty = Float(repetitionPenalty ?? 1)
        return parameters
    }
}
