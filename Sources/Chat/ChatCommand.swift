import ArgumentParser
import Foundation
import Guard
import Runtime

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model in the terminal, answers streamed, the conversation kept between turns.",
        discussion: """
        Lines starting with / are commands (/help lists them). On a terminal the line editor has history \
        (Up/Down, kept in ${XDG_STATE_HOME:-~/.local/state}/teleguard/history); Ctrl-C stops an answer, Ctrl-D leaves. \
        With standard input piped, each line is one turn and only the answers are printed.
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "System prompt.")
    var system: String?

    @Option(name: .long, help: "Maximum tokens per answer.")
    var maxTokens: Int = 512

    @OptionGroup var samplingOptions: SamplingOptions

    @Option(name: .long, help: "Apply a PEFT LoRA adapter, optionally scaled: DIR[:SCALE] (repeatable).")
    var lora: [LoRAArgument] = []

    @OptionGroup var guardOptions: GuardOptions

    @Option(name: .long, help: "History file. Default: ${XDG_STATE_HOME:-~/.local/state}/teleguard/history.")
    var history: String?

    @Flag(name: .long, help: "Keep no history file.")
    var noHistory = false

    func validate() throws {
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be at least 1, found \(maxTokens)") }
    }

    func run() throws {
        let errorStyle = TerminalStyle(fileDescriptor: STDERR_FILENO)
        let directory = try modelOptions.modelPath()
        let policy = try guardOptions.policy()
        let indicator = LoadingIndicator("loading \(directory.lastPathComponent)")
        let languageModel: LanguageModel
        do {
            defer { indicator.finish() }
            languageModel = try modelOptions.load()
        }
        // The guard first: a teleport must probe the base model, not one already patched by --lora.
        let guardController = try GuardController(languageModel: languageModel, options: guardOptions, policy: policy)
        let adapters = AdapterRegistry(model: languageModel.model)
        for adapter in lora { try adapters.load(directory: adapter.directory, scale: adapter.scale) }
        let options = GenerationOptions(sampling: samplingOptions.parameters(over: languageModel.defaultSampling), maxTokens: maxTokens)
        try options.sampling.validate()

        let environment = ProcessInfo.processInfo.environment
        let historyFile = noHistory ? nil : history.map { URL(fileURLWithPath: $0) } ?? LineHistory.defaultFile(environment: environment)
        let repl = ChatREPL(session: ChatSession(languageModel: languageModel, options: options, systemPrompt: system),
                            adapters: adapters, guardController: guardController,
                            editor: LineEditor(history: LineHistory(file: historyFile)))
        let parameters = languageModel.parameterCountByStorageType.values.reduce(0, +)
        repl.note(errorStyle.dim("\(directory.lastPathComponent): \(parameters) parameters, context \(languageModel.model.contextLength), "
                                 + String(format: "loaded in %.2fs", languageModel.loadSeconds) + "; guard \(guardController.stateDescription). /help for commands."))
        repl.run()
    }
}
