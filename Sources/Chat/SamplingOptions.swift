import ArgumentParser
import Runtime

/// Sampling flags shared by `generate` and `chat`; unset flags keep the model's generation_config.json defaults.
struct SamplingOptions: ParsableArguments {
    @Option(name: .long, help: "Sampling temperature; 0 is greedy. Default: the model's generation_config.json, else greedy.")
    var temperature: Float?

    @Option(name: .long, help: "Keep only the K most likely tokens (0: off).")
    var topK: Int?

    @Option(name: .long, help: "Keep the smallest set of tokens whose probability reaches P (1: off).")
    var topP: Float?

    @Option(name: .long, help: "Drop tokens less likely than P × the most likely one (0: off).")
    var minP: Float?

    @Option(name: .long, help: "Penalize tokens already seen (1: off).")
    var repetitionPenalty: Float?

    @Option(name: .long, help: "Random seed, for reproducible sampling.")
    var seed: UInt64?

    /// `defaults` with every flag that was given applied on top.
    func parameters(over defaults: SamplingParameters) -> SamplingParameters {
        var sampling = defaults
        if let temperature { sampling.temperature = temperature }
        if let topK { sampling.topK = topK }
        if let topP { sampling.topP = topP }
        if let minP { sampling.minP = minP }
        if let repetitionPenalty { sampling.repetitionPenalty = repetitionPenalty }
        sampling.seed = seed
        return sampling
    }
}
