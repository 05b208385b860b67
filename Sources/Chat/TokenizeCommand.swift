import ArgumentParser
import Foundation
import Runtime

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text as a JSON array.",
        discussion: "Without --chat the text is tokenized as tokenizer(text) does (special tokens added per the post-processor).")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "The text. Read from standard input when omitted.")
    var text: String?

    @Flag(name: .long, help: "Render the text as one user turn through the chat template, with the generation prompt.")
    var chat = false

    @Flag(name: .long, help: "Do not add the post-processor's special tokens (e.g. BOS).")
    var noSpecialTokens = false

    func run() throws {
        let formatter = try ChatFormatter.load(path: try modelOptions.modelPath())
        let input = try text ?? readStandardInput()
        let ids: [Int]
        if chat {
            ids = try formatter.encodeChat([ChatMessage(role: "user", content: input)])
        } else {
            ids = formatter.tokenizer.encode(input, addSpecialTokens: !noSpecialTokens)
        }
        try printJSON(ids)
    }
}
