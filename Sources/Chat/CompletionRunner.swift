import Foundation
import Guard
import Runtime

/// A request turned into prompt ids and generation options, checked against the limits before it waits in line.
struct PreparedCompletion: Sendable {
    let request: CompletionRequest
    let promptIds: [Int]
    let options: GenerationOptions
}

/// What one finished request reports: token counts, why it ended, the guard setting it ran with, and timing.
struct CompletionOutcome: Sendable {
    let text: String
    let promptTokens: Int
    let completionTokens: Int
    let finishReason: FinishReason
    let guardEnabled: Bool
    /// Positions in the answer where the guard's rule put its own token in place of the model's.
    let replacedPositions: [Int]
    let seconds: Double
    let prefillSeconds: Double
    let decodeTokensPerSecond: Double

    /// OpenAI's finish_reason: stop strings and end-of-sequence are both "stop"; an answer the guard ended (a refusal)
    /// is "content_filter" (content left out by a filter); a repaired answer ends as it would have.
    var openAIFinishReason: String {
        switch finishReason {
        case .stop, .stopString, .cancelled: return "stop"
        case .length: return "length"
        case .contentFilter: return "content_filter"
        }
    }
}

/// Runs completion requests on one model with its adapters and guard: the part of `batch` and `serve` that is
/// neither file nor HTTP.
struct CompletionRunner: Sendable {
    let languageModel: LanguageModel
    let guardController: GuardController
    /// Longest prompt accepted, in tokens (at most the context minus one position to answer in).
    let maxPromptTokens: Int
    let defaultMaxTokens: Int

    init(languageModel: LanguageModel, guardController: GuardController, maxPromptTokens: Int?, defaultMaxTokens: Int) {
        self.languageModel = languageModel
        self.guardController = guardController
        self.maxPromptTokens = min(maxPromptTokens ?? Int.max, languageModel.model.contextLength - 1)
        self.defaultMaxTokens = defaultMaxTokens
    }

    var modelName: String { languageModel.location.lastPathComponent }

    /// The model with its guard, then its `--lora` adapters, as `batch` and `serve` load them.
    static func load(modelOptions: ModelOptions, guardOptions: GuardOptions, policy: GuardPolicy, lora: [LoRAArgument],
                     maxPromptTokens: Int?, defaultMaxTokens: Int) throws -> (CompletionRunner, AdapterRegistry) {
        let languageModel = try modelOptions.load()
        // The guard first: a teleport must probe the base model, not one already patched by --lora.
        let guardController = try GuardController(languageModel: languageModel, options: guardOptions, policy: policy)
        let adapters = AdapterRegistry(model: languageModel.model)
        for adapter in lora { try adapters.load(directory: adapter.directory, scale: adapter.scale) }
        let runner = CompletionRunner(languageModel: languageModel, guardController: guardController,
                                      maxPromptTokens: maxPromptTokens, defaultMaxTokens: defaultMaxTokens)
        return (runner, adapters)
    }

    /// Tokenizes and checks a request; errors name the field.
    func prepare(_ request: CompletionRequest) throws -> PreparedCompletion {
        if request.guardEnabled == true && !guardController.isLoaded {
            throw RequestFieldError(field: "guard", detail: "is on but no guard is loaded (start with --guard teleport or --guard DIR)")
        }
        let field: String
        if case .prompt = request.input { field = "prompt" } else { field = "messages" }
        let promptIds: [Int]
        do { promptIds = try request.promptIds(languageModel) } catch {
            throw RequestFieldError(field: field, detail: "could not be rendered: \(error)")
        }
        guard !promptIds.isEmpty else { throw RequestFieldError(field: field, detail: "gives no tokens") }
        guard promptIds.count <= maxPromptTokens else {
            throw RequestFieldError(field: field, detail: "has \(promptIds.count) tokens; the limit is \(maxPromptTokens) (--max-prompt-tokens or the model's context)")
        }
        var options = request.generationOptions(defaults: languageModel.defaultSampling, defaultMaxTokens: defaultMaxTokens)
        // Room left in the context after the prompt.
        options.maxTokens = min(options.maxTokens, languageModel.model.contextLength - promptIds.count)
        do { try options.sampling.validate() } catch let error as GenerationError {
            if case .invalidParameter(let name, let detail) = error { throw RequestFieldError(field: name, detail: detail) }
            throw error
        }
        return PreparedCompletion(request: request, promptIds: promptIds, options: options)
    }

    /// A session for `prepared` (its prompt prefilled now), for decoding beside others; `onText` receives streamed
    /// text, `shouldStop` is polled once per token. The guard must already be switched as the request asks.
    func makeSession(_ prepared: PreparedCompletion, shouldStop: @escaping () -> Bool,
                     onText: @escaping (String) -> Void) throws -> GenerationSession {
        try GenerationSession(languageModel, promptIds: prepared.promptIds, options: prepared.options) { delta in
            if !delta.text.isEmpty { onText(delta.text) }
            return !shouldStop()
        }
    }

    /// What a finished generation reports.
    func outcome(_ result: GenerationResult, guardEnabled: Bool, since start: Date) -> CompletionOutcome {
        CompletionOutcome(text: result.text, promptTokens: result.promptIds.count, completionTokens: result.outputIds.count,
                          finishReason: result.finishReason, guardEnabled: guardEnabled, replacedPositions: result.replacedPositions,
                          seconds: Date().timeIntervalSince(start), prefillSeconds: result.prefillSeconds,
                          decodeTokensPerSecond: result.decodeTokensPerSecond)
    }

    /// Generates on the calling thread; `onText` receives streamed text, `shouldStop` is polled once per token.
    func run(_ prepared: PreparedCompletion, shouldStop: () -> Bool = { false }, onText: (String) -> Void = { _ in }) throws -> CompletionOutcome {
        let start = Date()
        return try guardController.with(enabled: prepared.request.guardEnabled) {
            let guardEnabled = guardController.isEnabled
            let result = try TextGenerator(languageModel).generate(promptIds: prepared.promptIds, options: prepared.options) { delta in
                if !delta.text.isEmpty { onText(delta.text) }
                return !shouldStop()
            }
            return outcome(result, guardEnabled: guardEnabled, since: start)
        }
    }
}
