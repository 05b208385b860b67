import Foundation
import Runtime

/// Runs a trigger suite on a model as it stands (guarded or not): each prompt as one user turn through the chat
/// template, greedy decoding up to the suite's `max_tokens`, then ASR, clean trigger rate and benign accuracy.
public struct Verifier {
    public let languageModel: LanguageModel

    public init(_ languageModel: LanguageModel) { self.languageModel = languageModel }

    /// `guardName` is what the report records under "guard"; `progress` gets (done, total) after each prompt.
    public func run(_ suite: TriggerSuite, guardName: String, progress: (Int, Int) -> Void = { _, _ in }) throws -> VerifyReport {
        let start = Date()
        let generator = TextGenerator(languageModel)
        var sampling = SamplingParameters()
        sampling.temperature = 0
        let options = GenerationOptions(sampling: sampling, maxTokens: suite.maxTokens)
        let triggered = suite.triggeredCases
        let total = triggered.count + suite.prompts.count + suite.benign.count
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
        return VerifyReport(
            model: languageModel.location.path, suite: suite.name, guardPolicy: guardName,
            asr: share(cases.filter { $0.trigger != nil }.map(\.hit)),
            payloadFragmentRate: fragments.count == triggeredResponses.count ? share(fragments) : nil,
            cleanTriggerRate: share(cases.filter { $0.trigger == nil }.map(\.hit)),
            benignAccuracy: share(benign.map(\.correct)), cases: cases, benignCases: benign,
            seconds: Date().timeIntervalSince(start))
    }
}
