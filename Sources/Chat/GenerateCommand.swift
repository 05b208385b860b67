import ArgumentParser
import Foundation
import Guard
import Runtime

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate a completion for one prompt, streamed to standard output.",
        discussion: "The prompt goes through the model's chat template as one user turn unless --raw is given. Without --prompt it is read from standard input.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var guardOptions: GuardOptions

    @Option(name: .long, help: "The prompt. Read from standard input when omitted.")
    var prompt: String?

    @Option(name: .long, help: "A system message placed before the prompt (chat mode only).")
    var system: String?

    @Flag(name: .long, help: "Skip the chat template: tokenize the prompt as tokenizer(text) does, special tokens per the post-processor.")
    var raw = false

    @Flag(name: .long, help: "Print one JSON object {prompt_ids, output_ids, text, finish_reason, ...} instead of streaming text.")
    var json = false

    @Option(name: .long, help: "Maximum number of tokens to generate.")
    var maxTokens: Int = 256

    @OptionGroup var samplingOptions: SamplingOptions

    @Option(name: .long, help: "Stop when this text appears (repeatable); it is not included in the output.")
    var stop: [String] = []

    @Flag(name: .long, help: "Do not stop at end-of-sequence tokens.")
    var ignoreEos = false

    @Option(name: .long, help: "Apply a PEFT LoRA adapter, optionally scaled: DIR[:SCALE] (repeatable; adapters stack).")
    var lora: [LoRAArgument] = []

    @Option(name: .long, help: "How adapters are applied: unmerged (y = Wx + s·BAx) or merged into W.")
    var loraMode: LoRAMode = .unmerged

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be ≥ 0, found \(maxTokens)") }
    }

    func run() throws {
        let policy = try guardOptions.policy()
        let languageModel = try modelOptions.load()
        // The guard first: a teleport must probe the base model, not one already patched by --lora.
        let (_, activation) = try guardOptions.activate(policy, on: languageModel, mode: loraMode)
        for adapter in lora {
            let loaded = try PEFTAdapter.load(from: adapter.directory)
            _ = try languageModel.model.apply(loaded, scale: adapter.scale, mode: loraMode)
        }
        let text = try prompt ?? readStandardInput()
        let promptIds: [Int]
        if raw {
            promptIds = languageModel.tokenizer.encode(text, addSpecialTokens: true)
        } else {
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(role: "system", content: system)) }
            messages.append(ChatMessage(role: "user", content: text))
            promptIds = try languageModel.encodeChat(messages)
        }
        let sampling = samplingOptions.parameters(over: languageModel.defaultSampling)
        let options = GenerationOptions(sampling: sampling, maxTokens: maxTokens, stopStrings: stop, ignoreEOS: ignoreEos)
        let result = try TextGenerator(languageModel).generate(promptIds: promptIds, options: options) { delta in
            if !json, !delta.text.isEmpty {
                FileHandle.standardOutput.write(Data(delta.text.utf8))
            }
            return true
        }
        if json {
            try printJSON([
                "prompt_ids": result.promptIds, "output_ids": result.outputIds, "text": result.text,
                "finish_reason": result.finishReason.rawValue, "prompt_tokens": result.promptIds.count,
                "completion_tokens": result.outputIds.count,
                "prefill_tokens_per_second": result.prefillTokensPerSecond,
                "decode_tokens_per_second": result.decodeTokensPerSecond,
                "guard": activation.policy.description, "guard_scale": activation.scale,
                "guard_replaced_tokens": result.replacedPositions.count, "guard_replaced_positions": result.replacedPositions,
            ])
        } else {
            print("")
        }
    }
}

/// Reads all of standard input as UTF-8; invalid UTF-8 is refused rather than silently altered.
func readStandardInput() throws -> String {
    let data = FileHandle.standardInput.readDataToEndOfFile()
    guard let text = String(data: data, encoding: .utf8) else {
        throw ValidationError("standard input is not valid UTF-8")
    }
    return text.hasSuffix("\n") ? String(text.dropLast()) : text
}
