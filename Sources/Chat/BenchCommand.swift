import ArgumentParser
import Foundation
import Guard
import Runtime

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure load time, prefill and decode throughput, and peak memory.",
        discussion: "The prompt is a fixed pseudo-random sequence of ordinary token ids; decoding is greedy and ignores end-of-sequence, so every run does the same work. Each phase reports the best of --repetitions runs.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Prompt length in tokens.")
    var promptTokens: Int = 128

    @Option(name: .long, help: "Tokens to generate after the prompt.")
    var genTokens: Int = 64

    @Option(name: .long, help: "Runs per phase; the best is reported.")
    var repetitions: Int = 3

    @Flag(name: .long, help: "Also measure with the teleported guard applied, interleaved with the unguarded runs, and report the ratio.")
    var guarded = false

    @Option(name: .long, help: "TeleLoRA generator directory for --guarded. Default: the shipped adapters/telelora.")
    var generator: String?

    @Option(name: .customLong("guard-rule"), help: "The guard's decoding rule for --guarded (as for chat: auto, repair[:RATIO], recorded, off or a veto).")
    var guardRule: String = "auto"

    @Option(name: .long, help: "Also decode this many answers together (one shared pass per step, as the server batches concurrent requests) and report their combined tokens/s against one answer's.")
    var batch: Int?

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard promptTokens > 0, genTokens > 0, repetitions > 0 else {
            throw ValidationError("--prompt-tokens, --gen-tokens and --repetitions must be positive")
        }
        if let batch, batch < 2 { throw ValidationError("--batch must be at least 2, found \(batch)") }
        do { _ = try RuleChoice.parse(guardRule, option: "--guard-rule") } catch let error as GenerationError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        let languageModel = try modelOptions.load()
        let model = languageModel.model
        guard promptTokens + genTokens <= model.contextLength else {
            throw ValidationError("--prompt-tokens + --gen-tokens exceeds the model's context (\(model.contextLength))")
        }
        var random = SeededGenerator(seed: 0)
        let special = languageModel.tokenizer.specialTokenIds
        let ordinary = (0..<min(model.vocabularySize, languageModel.tokenizer.vocabularySize)).filter { !special.contains($0) }
        let prompt = (0..<promptTokens).map { _ in ordinary[Int(random.next() % UInt64(ordinary.count))] }

        var modelGuard: ModelGuard?
        if guarded {
            guard let directory = GuardOptions.generatorDirectory(explicit: generator) else { throw GuardOptions.generatorMissing }
            let made = ModelGuard(languageModel: languageModel, mode: .unmerged, cache: nil)
            try made.activate(.teleport(generator: directory), rule: try RuleChoice.parse(guardRule, option: "--guard-rule"))
            modelGuard = made
        }
        let cache = model.makeCache(capacity: promptTokens + genTokens)
        let patchedCache = model.makeCache(capacity: promptTokens + genTokens)
        /// Seconds of one prefill and one decode of `genTokens`. Under a guard with a decoding rule the decode runs the
        /// original and the patched stream side by side, as generation does (without the rule's interventions).
        func timeOnce() throws -> (prefill: Double, decode: Double) {
            cache.reset()
            var start = Date()
            var logits = try model.forward(prompt, cache: cache)
            let prefill = Date().timeIntervalSince(start)
            start = Date()
            if model.decodingRule != nil {
                patchedCache.copy(from: cache)
                for _ in 0..<genTokens {
                    let next = Sampler.argmax(logits)
                    let both = try model.forward(sideBySide: [next, next], caches: [cache, patchedCache], generatedRows: 1..<2)
                    logits = Array(both[..<model.vocabularySize])
                }
            } else {
                for _ in 0..<genTokens {
                    logits = try model.forward([Sampler.argmax(logits)], cache: cache, phase: .generated)
                }
            }
            return (prefill, Date().timeIntervalSince(start))
        }
        var bestPrefill = Double.infinity, bestDecode = Double.infinity
        var guardedPrefill = Double.infinity, guardedDecode = Double.infinity
        for _ in 0..<repetitions {
            // Scale 0 leaves the adapter in place but skipped, so both runs share everything else.
            try modelGuard?.setScale(0)
            let plain = try timeOnce()
            bestPrefill = min(bestPrefill, plain.prefill)
            bestDecode = min(bestDecode, plain.decode)
            guard let modelGuard else { continue }
            try modelGuard.setScale(1)
            let patched = try timeOnce()
            guardedPrefill = min(guardedPrefill, patched.prefill)
            guardedDecode = min(guardedDecode, patched.decode)
        }
        // N answers decoded together: the best of `repetitions` runs of the decode steps (prefills not timed).
        var bestBatchDecode = Double.infinity
        if let batch {
            try modelGuard?.setScale(1)
            var greedy = SamplingParameters()
            greedy.temperature = 0
            let options = GenerationOptions(sampling: greedy, maxTokens: genTokens + 1, ignoreEOS: true)
            for _ in 0..<repetitions {
                let sessions = try (0..<batch).map { _ in try GenerationSession(languageModel, promptIds: prompt, options: options) }
                let start = Date()
                var going = sessions
                while !going.isEmpty { going = try BatchGenerator(languageModel).step(going) }
                bestBatchDecode = min(bestBatchDecode, Date().timeIntervalSince(start))
            }
        }
        var report: [String: Any] = [
            "model": languageModel.location.path,
            "parameters": model.parameterCount,
            "threads": modelOptions.threads,
            "blas_kernels": BLASKernelSet.current,
            "prompt_tokens": promptTokens,
            "generated_tokens": genTokens,
            "load_seconds": languageModel.loadSeconds,
            "prefill_tokens_per_second": Double(promptTokens) / bestPrefill,
            "decode_tokens_per_second": Double(genTokens) / bestDecode,
            "peak_rss_bytes": peakResidentBytes(),
            "weights_in_memory": ["parameters_by_type": model.matrixStorage.parametersByType,
                                  "bytes": model.matrixStorage.bytes, "quantized_kernels": QuantizedKernels.current],
        ]
        if modelGuard != nil {
            report["guarded_prefill_tokens_per_second"] = Double(promptTokens) / guardedPrefill
            report["guarded_decode_tokens_per_second"] = Double(genTokens) / guardedDecode
            report["guarded_decode_ratio"] = bestDecode / guardedDecode
            report["guarded_decoding"] = model.decodingRule.map { "\($0): original and patched streams side by side" } ?? "patched"
        }
        if let batch {
            report["batch"] = batch
            report["batch_decode_tokens_per_second"] = Double(batch * genTokens) / bestBatchDecode
            report["batch_decode_ratio"] = Double(batch * genTokens) / bestBatchDecode / (Double(genTokens) / (modelGuard != nil ? guardedDecode : bestDecode))
        }
        if json {
            try printJSON(report)
        } else {
            print("model      \(languageModel.location.path) (\(model.parameterCount) parameters, \(modelOptions.threads) threads)")
            print("BLAS       OpenBLAS \(BLASKernelSet.current) kernels")
            let storage = model.matrixStorage
            let types = storage.parametersByType.sorted { $0.key < $1.key }
                .map { String(format: "%@ %.1fM", $0.key, Double($0.value) / 1e6) }.joined(separator: ", ")
            print("weights    \(types) parameters in \(formatBytes(storage.bytes)) (quantized kernels: \(QuantizedKernels.current))")
            print(String(format: "load       %.3f s", languageModel.loadSeconds))
            print(String(format: "prefill    %.1f tokens/s (%d tokens)", Double(promptTokens) / bestPrefill, promptTokens))
            print(String(format: "decode     %.1f tokens/s (%d tokens)", Double(genTokens) / bestDecode, genTokens))
            if modelGuard != nil {
                print(String(format: "guarded    prefill %.1f tokens/s, decode %.1f tokens/s (%.2f× the unguarded decode)",
                             Double(promptTokens) / guardedPrefill, Double(genTokens) / guardedDecode, bestDecode / guardedDecode))
            }
            if let batch {
                let single = Double(genTokens) / (modelGuard != nil ? guardedDecode : bestDecode)
                let together = Double(batch * genTokens) / bestBatchDecode
                print(String(format: "batch      %d answers together: %.1f tokens/s in all (%.2f× one answer's %.1f)", batch, together, together / single, single))
            }
            print("peak RSS   \(formatBytes(peakResidentBytes()))")
        }
    }
}

/// Peak resident set size (VmHWM) from /proc; 0 where unavailable.
func peakResidentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kilobytes * 1024
    }
    return 0
}
