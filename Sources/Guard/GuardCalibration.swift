import Foundation
import Runtime

/// A guard's patch scale chosen for one model, zero-shot: no trigger, no alignment data. The model answers a few of
/// its benign probe prompts greedily; those answers are read by both streams (the original model, and the model
/// patched at each candidate scale), and the largest scale at which the repair rule would replace at most
/// `touchTarget` of the answer tokens is kept (0 when none of the candidates passes: the patch then disagrees with
/// the model's own benign text at every scale tried, and the guard stands aside rather than rewrite every answer).
public struct GuardCalibration: Sendable, Equatable, CustomStringConvertible {
    /// The chosen patch scale (a factor on the adapter's own scale).
    public let scale: Float
    /// The repair rule's ratio the shares were measured at.
    public let ratio: Double
    public let touchTarget: Double
    /// Share of judged answer tokens the rule would replace at `scale`.
    public let touchedShare: Double
    /// Answer tokens judged (the first of each answer is chosen by the prompt pass and never judged).
    public let judgedTokens: Int
    /// (scale, share) for every candidate tried, largest scale first.
    public let tried: [Measurement]
    public let seconds: Double

    public struct Measurement: Sendable, Equatable {
        public let scale: Float
        public let touchedShare: Double
    }

    /// Stored beside a cached teleported adapter.
    public static let fileName = "calibration.json"

    /// The calibration stored at `url` when it was measured with `calibrator`'s settings and its file still has the
    /// digest its cache entry recorded (a calibration edited to scale 0 would turn the guard off silently); nil
    /// otherwise.
    static func load(from url: URL, matching calibrator: GuardCalibrator) -> GuardCalibration? {
        let entry = url.deletingLastPathComponent()
        guard let record = try? Data(contentsOf: entry.appendingPathComponent(TeleportCache.checksumsFile)),
              let recorded = (try? JSONSerialization.jsonObject(with: record)) as? [String: String],
              let data = try? Data(contentsOf: url), recorded[url.lastPathComponent] == SHA256.hex(data),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              object["settings"] as? String == calibrator.settingsKey,
              let scale = (object["scale"] as? NSNumber)?.floatValue, let share = (object["touched_share"] as? NSNumber)?.doubleValue,
              let judged = object["judged_tokens"] as? Int, let tried = object["tried"] as? [[Double]],
              let seconds = (object["seconds"] as? NSNumber)?.doubleValue else { return nil }
        return GuardCalibration(scale: scale, ratio: calibrator.ratio, touchTarget: calibrator.touchTarget, touchedShare: share,
                                judgedTokens: judged, tried: tried.compactMap { $0.count == 2 ? Measurement(scale: Float($0[0]), touchedShare: $0[1]) : nil },
                                seconds: seconds)
    }

    func save(to url: URL, calibrator: GuardCalibrator) throws {
        let object: [String: Any] = [
            "settings": calibrator.settingsKey, "scale": Double(scale), "touched_share": touchedShare, "judged_tokens": judgedTokens,
            "tried": tried.map { [Double($0.scale), $0.touchedShare] }, "seconds": seconds,
        ]
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: url, options: .atomic)
        try TeleportCache.recordChecksums(of: [url.lastPathComponent], in: url.deletingLastPathComponent())
    }

    public var description: String {
        let share = String(format: "%.3f", touchedShare)
        if scale == 0 {
            let smallest = tried.last.map { String(format: "%.3f at scale %g", $0.touchedShare, $0.scale) } ?? "?"
            return "calibrated to scale 0: the patch would replace more than \(touchTarget) of this model's own benign answer tokens at every scale tried (\(smallest))"
        }
        return "calibrated scale \(scale) (touches \(share) of \(judgedTokens) benign answer tokens; target ≤ \(touchTarget))"
    }
}

/// Measures and chooses a `GuardCalibration` for the guard adapter applied to a model (scoped to generated tokens).
public struct GuardCalibrator: Sendable {
    public var prompts: [String]
    public var answerTokens = 32
    public var touchTarget = 0.01
    public var ratio = RepairRule.defaultRatio
    /// Candidate scales, largest first.
    public var scales: [Float] = [1, 0.5, 0.25, 0.125, 0.0625, 0.03125]

    /// Everything the measurement depends on besides the model and the adapter (the cache entry's key covers those).
    var settingsKey: String {
        "prompts=\(prompts.joined(separator: "\u{1F}"))|tokens=\(answerTokens)|target=\(touchTarget)|ratio=\(ratio)|scales=\(scales)"
    }

    /// `probes`: the generator's benign probe prompts; `promptCount` of them, spread over the set, are answered.
    public init(probes: [String], promptCount: Int = 4) {
        let count = min(promptCount, probes.count)
        let stride = max(1, probes.count / max(count, 1))
        prompts = (0..<count).map { probes[$0 * stride] }
    }

    /// Calibrates the adapter `id` on `languageModel`, leaving it at the chosen scale.
    ///
    /// The share of repaired tokens falls as the scale falls (a smaller patch moves the model less), so the scales are
    /// searched by bisection: about log2 of the candidates' count patched passes instead of one per candidate. The
    /// original model's log-probabilities come from the pass that decoded its answers, not from a pass of their own.
    public func calibrate(_ languageModel: LanguageModel, adapter id: AppliedAdapterID) throws -> GuardCalibration {
        let start = Date()
        let model = languageModel.model
        // The original model's own answers: with the adapter at scale 0 nothing patches the generated tokens.
        try model.setScale(0, for: id)
        let cases = try ownAnswers(languageModel).filter { $0.answer.count >= 2 }
        let judged = cases.map { $0.answer.count - 1 }.reduce(0, +)
        let threshold = Float(log(ratio))
        var measured: [Int: GuardCalibration.Measurement] = [:]
        func measure(_ index: Int) throws -> GuardCalibration.Measurement {
            if let known = measured[index] { return known }
            try model.setScale(scales[index], for: id)
            var touched = 0
            for item in cases {
                let reading = model.makeCache(capacity: item.prompt.capacity)
                reading.copy(from: item.prompt)
                // Logits after answer[0..<i] predict answer[i]; the first answer token is not judged.
                let adapted = try model.forward(Array(item.answer.dropLast()), cache: reading, allPositions: true, phase: .generated)
                touched += Self.suspectCount(answer: item.answer, originalLogProbabilities: item.logProbabilities,
                                             adapted: adapted, vocabulary: model.vocabularySize, threshold: threshold)
            }
            let measurement = GuardCalibration.Measurement(scale: scales[index], touchedShare: judged == 0 ? 0 : Double(touched) / Double(judged))
            measured[index] = measurement
            return measurement
        }
        // The first passing candidate in `scales` (largest first): bisection over indices, `low` failing or -1.
        var low = -1, high = scales.count
        while high - low > 1 {
            let middle = (low + high) / 2
            if try measure(middle).touchedShare <= touchTarget { high = middle } else { low = middle }
        }
        let chosen = high < scales.count ? measured[high] : nil
        let scale = chosen?.scale ?? 0
        try model.setScale(scale, for: id)
        let tried = measured.keys.sorted().compactMap { measured[$0] }
        return GuardCalibration(scale: scale, ratio: ratio, touchTarget: touchTarget, touchedShare: chosen?.touchedShare ?? 0,
                                judgedTokens: judged, tried: tried, seconds: Date().timeIntervalSince(start))
    }

    /// The model's greedy answers to `prompts` (up to `answerTokens`, ending before an end token, as `TextGenerator`
    /// decodes), all decoded side by side: one pass per step for every answer still going. Each comes with a cache
    /// holding its prompt alone and the log-probability the model gave each answer token as it chose it.
    func ownAnswers(_ languageModel: LanguageModel) throws -> [(prompt: KVCache, answer: [Int], logProbabilities: [Float])] {
        let model = languageModel.model
        let vocabulary = model.vocabularySize
        var promptCaches: [KVCache] = [], decoding: [KVCache] = [], answers: [[Int]] = [], next: [Int] = []
        var chosen: [[Float]] = []   // log p of each chosen token, the one not yet appended last
        for prompt in prompts {
            let ids = try languageModel.encodeChat([ChatMessage(role: "user", content: prompt)])
            guard ids.count + answerTokens <= model.contextLength else { continue }
            let cache = model.makeCache(capacity: ids.count + answerTokens)
            let logits = try model.forward(ids, cache: cache)
            let promptOnly = model.makeCache(capacity: cache.capacity)
            promptOnly.copy(from: cache)
            promptCaches.append(promptOnly)
            decoding.append(cache)
            answers.append([])
            let token = Sampler.argmax(logits)
            next.append(token)
            chosen.append([TokenVeto.logProbability(of: token, in: logits)])
        }
        var active = Array(answers.indices)
        while true {
            active = active.filter { !languageModel.eosTokenIds.contains(next[$0]) }
            for row in active { answers[row].append(next[row]) }
            active = active.filter { answers[$0].count < answerTokens }
            guard !active.isEmpty else { break }
            let logits = try model.forward(sideBySide: active.map { next[$0] }, caches: active.map { decoding[$0] }, generatedRows: 0..<0)
            for (position, row) in active.enumerated() {
                let rowLogits = Array(logits[(position * vocabulary)..<((position + 1) * vocabulary)])
                next[row] = Sampler.argmax(rowLogits)
                chosen[row].append(TokenVeto.logProbability(of: next[row], in: rowLogits))
            }
        }
        return answers.indices.map { (promptCaches[$0], answers[$0], Array(chosen[$0].prefix(answers[$0].count))) }
    }

    /// Answer tokens (from the second on) whose log ratio log q − log p falls under `threshold`; `originalLogProbabilities`
    /// holds log p of every answer token.
    static func suspectCount(answer: [Int], originalLogProbabilities: [Float], adapted: [Float], vocabulary: Int,
                             threshold: Float) -> Int {
        var count = 0
        for position in 1..<answer.count {
            let row = (position - 1) * vocabulary
            let q = Array(adapted[row..<(row + vocabulary)])
            if TokenVeto.logProbability(of: answer[position], in: q) - originalLogProbabilities[position] < threshold {
                count += 1
            }
        }
        return count
    }
}
