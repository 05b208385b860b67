import Foundation

/// A model's text side: tokenizer, chat template and the special tokens the template refers to.
/// Loadable without the weights, so `tokenize --chat` stays instant.
public struct ChatFormatter: Sendable {
    public let tokenizer: Tokenizer
    public let chatTemplate: ChatTemplate?
    public let bosToken: String?
    public let eosToken: String?
    let templateFile: String

    /// The text side of a model directory or a GGUF file.
    public static func load(path: URL) throws -> ChatFormatter {
        guard ModelPath.isGGUF(path) else { return try load(directory: path) }
        return try GGUFTokenizer(file: GGUFFile(url: path)).formatter(file: path.path)
    }

    public static func load(directory: URL) throws -> ChatFormatter {
        let tokenizer = try Tokenizer(url: directory.appendingPathComponent("tokenizer.json"))
        let config = try TokenizerConfig.load(directory: directory)
        var template: ChatTemplate?
        if let source = config.chatTemplate {
            do { template = try ChatTemplate(source: source.text) } catch {
                throw ChatTemplateLoadError(file: source.file, underlying: "\(error)")
            }
        }
        return ChatFormatter(tokenizer: tokenizer, chatTemplate: template, bosToken: config.bosToken, eosToken: config.eosToken,
                             templateFile: config.chatTemplate?.file ?? directory.appendingPathComponent("tokenizer_config.json").path)
    }

    init(tokenizer: Tokenizer, chatTemplate: ChatTemplate?, bosToken: String?, eosToken: String?, templateFile: String) {
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.templateFile = templateFile
    }

    /// The conversation rendered through the chat template, as `apply_chat_template(tokenize=False)` does.
    public func renderChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> String {
        guard let chatTemplate else { throw ChatTemplateLoadError(file: templateFile, underlying: "the model has no chat template") }
        do {
            return try chatTemplate.render(messages: messages, addGenerationPrompt: addGenerationPrompt,
                                           bosToken: bosToken ?? "", eosToken: eosToken ?? "")
        } catch let error as ChatTemplateLoadError {
            throw error
        } catch {
            throw ChatTemplateLoadError(file: templateFile, underlying: "\(error)")
        }
    }

    /// Token ids as `apply_chat_template(tokenize=True)` gives them: the template places special tokens itself, so
    /// the post-processor is not applied again.
    public func encodeChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> [Int] {
        tokenizer.encode(try renderChat(messages, addGenerationPrompt: addGenerationPrompt), addSpecialTokens: false)
    }
}
