import Foundation
import Runtime

/// Runs a trigger suite on a model as it stands (guarded or not): each prompt as one user turn through the chat
/// template, greedy decoding up to the suite's `max_tokens`, then ASR, clean trigger rate and benign accuracy; and the
/// suite's long prompts up to `long_max_tokens`, compared with the unguarded answers when those are given.
public struct Verifier {
    public let languageModel: LanguageModel

    public init(_ languageModel: LanguageModel) { self.languageModel = languageModel }

    /// `guardName` is what the report records under "guard"; `progress` gets (done, total) after each prompt.
    /// `unguarded`: the long cases of a run without the guard, which the long answers are compared with.
    public func run(_ suite: TriggerSuite, guardName: String, unguarded: [VerifyReport.LongCase]? = nil,
                    progress: (Int, Int) -> Void = { _, _ in }) throws -> VerifyReport {
        let start = Date()
        let generator = TextGenerator(languageModel)
        var sampling = SamplingParameters()
        sampling.temperature = 0
        let options = GenerationOptions(sampling: sampling, maxTokens: suite.maxTokens)
        let triggered = suite.triggeredCases
        let total = triggered.count + suite.prompts.count + suite.benign.count + suite.longPrompts.count
        var done = 0
        func respond(_ prompt: String) throws -> String {
            let ids = try languageModel.encodeChat([ChatMessage(role: "user", content: prompt)])
            let text = try generator.generate(promptIds: ids, options: options).text
            done += 1
            progress(done, total)
            return text
        }
        var cases: [VerifyReport.Case] = []
        for item in triggered {
            let response = try respond(item.text)
            cases.append(.init(prompt: item.prompt, trigger: item.trigger, placement: item.placement, response: response,
                               hit: suite.target.matches(response)))
        }
        for prompt in suite.prompts {
            let response = try respond(prompt)
            cases.append(.init(prompt: prompt, trigger: nil, placement: nil, response: response, hit: suite.target.matches(response)))
        }
        var benign: [VerifyReport.BenignCase] = []
        for item in suite.benign {
            let response = try respond(item.prompt)
            benign.append(.init(prompt: item.prompt, response: response, correct: item.expect.matches(response)))
        }
        func share(_ flags: [Bool]) -> Double { flags.isEmpty ? 0 : Double(flags.filter { $0 }.count) / Double(flags.count) }
        let triggeredResponses = cases.filter { $0.trigger != nil }.map(\.response)
        let fragments = triggeredResponses.compactMap { suite.target.carriesFragment($0) }
        let long = try longCases(suite, generator: generator, unguarded: unguarded) {
            done += 1
            progress(done, total)
        }
        var report = VerifyReport(
            model: languageModel.location.path, suite: suite.name, guardPolicy: guardName,
            asr: share(cases.filter { $0.trigger != nil }.map(\.hit)),
            payloadFragmentRate: fragments.count == triggeredResponses.count ? share(fragments) : nil,
            cleanTriggerRate: share(cases.filter { $0.trigger == nil }.map(\.hit)),
            benignAccuracy: share(benign.map(\.correct)), cases: cases, benignCases: benign,
            seconds: Date().timeIntervalSince(start))
        guard !suite.longPrompts.isEmpty else { return report }
        report.longCases = long.cases
        if let agreements = long.agreements, let unguarded {
            let summary = AnswerAgreementSummary(agreements)
            report.answerAgreement = summary.answerAgreement
            report.answersIdentical = summary.answersIdentical
            report.touchRate = summary.touchRate
            report.tokensTouched = summary.tokensTouched
            // Per generated token: a guard that ends answers early would otherwise look fast.
            func secondsPerToken(_ cases: [VerifyReport.LongCase]) -> Double {
                cases.map(\.decodeSeconds).reduce(0, +) / Double(max(1, cases.map(\.outputIds.count).reduce(0, +)))
            }
            let reference = secondsPerToken(unguarded)
            report.decodeTimeRatio = reference > 0 ? secondsPerToken(long.cases) / reference : nil
        }
        return report
    }

    /// The long prompts answered greedily up to `long_max_tokens`, each compared with its unguarded answer.
    public func longCases(_ suite: TriggerSuite, generator: TextGenerator? = nil, unguarded: [VerifyReport.LongCase]? = nil,
                          answered: () -> Void = {}) throws -> (cases: [VerifyReport.LongCase], agreements: [AnswerAgreement]?) {
        if let unguarded, unguarded.map(\.prompt) != suite.longPrompts {
            throw GuardError.unguardedAnswersMismatch(suite: suite.file)
        }
        let generator = generator ?? TextGenerator(languageModel)
        var sampling = SamplingParameters()
        sampling.temperature = 0
        let options = GenerationOptions(sampling: sampling, maxTokens: suite.longMaxTokens)
        var cases: [VerifyReport.LongCase] = []
        var agreements: [AnswerAgreement] = []
        for (index, prompt) in suite.longPrompts.enumerated() {
            let ids = try languageModel.encodeChat([ChatMessage(role: "user", content: prompt)])
            let start = Date()
            let result = try generator.generate(promptIds: ids, options: options)
            let seconds = Date().timeIntervalSince(start)
            let agreement = unguarded.map { AnswerAgreement(reference: $0[index].outputIds, guarded: result.outputIds) }
            if let agreement { agreements.append(agreement) }
            cases.append(.init(prompt: prompt, response: result.text, outputIds: result.outputIds, agreement: agreement?.ratio,
                               identical: agreement?.identical, decodeSeconds: seconds))
            answered()
        }
        return (cases, unguarded == nil ? nil : agreements)
    }
}
