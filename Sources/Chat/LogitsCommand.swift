import ArgumentParser
import Foundation
import Guard
import Runtime

/// Hidden debugging command: the logits of every prompt position, for parity checks against transformers and PEFT
/// (Tests/Python/test_peft_export.py).
struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Print the prompt's ids and the logits of every position as JSON (debugging).",
        shouldDisplay: false)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "The prompt, tokenized as tokenizer(text) does.")
    var prompt: String

    @Option(name: .long, help: "Apply a PEFT LoRA adapter, optionally scaled: DIR[:SCALE] (repeatable); a guard adapter's recorded scope (teleguard_patch_positions) is honoured.")
    var lora: [LoRAArgument] = []

    @Flag(name: .long, help: "Run the prompt as generated tokens, so that adapters scoped to generated tokens act on it.")
    var asGenerated = false

    func run() throws {
        let languageModel = try modelOptions.load()
        for adapter in lora {
            let loaded = try PEFTAdapter.load(from: adapter.directory)
            try languageModel.model.checkFits(loaded)
            _ = try languageModel.model.applyLoRA(loaded.layers, scale: adapter.scale, scope: try GuardAdapterKeys(loaded).scope,
                                                  source: adapter.directory.path)
        }
        let ids = languageModel.tokenizer.encode(prompt, addSpecialTokens: true)
        let model = languageModel.model
        let logits = try model.forward(ids, cache: model.makeCache(capacity: ids.count), allPositions: true,
                                       phase: asGenerated ? .generated : .prompt)
        try printJSON(["ids": ids, "vocab_size": model.vocabularySize, "logits": logits.map(Double.init)])
    }
}
