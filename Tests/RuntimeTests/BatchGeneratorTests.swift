import Foundation
import XCTest

@testable import Runtime

/// Answers decoded together, one shared pass per step, equal the answers decoded one at a time: greedy and seeded
/// sampling, different prompt lengths and budgets, stop strings, answers that end early while others go on, and
/// answers under a decoding rule (two streams each) beside answers without one.
final class BatchGeneratorTests: XCTestCase {
    /// Replaces the first stream's proposal by the adapted stream's choice whenever they differ.
    struct AdaptedChoiceRule: DecodingRule {
        struct Judge: TokenJudge {
            mutating func read(proposed: Int, logits: [Float], adapted: [Float]) -> TokenVerdict {
                let choice = Sampler.argmax(adapted)
                return TokenVerdict(next: choice, released: [choice])
            }
            mutating func finish() -> TokenVerdict { TokenVerdict(next: nil, released: []) }
        }
        func makeJudge() -> any TokenJudge { Judge() }
        var description: String { "adapted choice" }
    }

    func requests(_ languageModel: LanguageModel) throws -> [(promptIds: [Int], options: GenerationOptions)] {
        let texts = ["Once upon a time", "The license grants permission to copy, modify and merge the software", "Hi",
                     "Numbers: one two three four five six seven eight nine ten eleven twelve"]
        var sampled = SamplingParameters()
        sampled.temperature = 0.9
        sampled.topK = 20
        sampled.seed = 7
        var greedy = SamplingParameters()
        greedy.temperature = 0
        return try texts.enumerated().map { index, text in
            let ids = languageModel.tokenizer.encode(text)
            XCTAssertFalse(ids.isEmpty)
            var options = GenerationOptions(sampling: index == 1 ? sampled : greedy, maxTokens: [12, 7, 16, 3][index],
                                            ignoreEOS: index != 2)
            if index == 3 { options.stopStrings = ["e"] }
            return (ids, options)
        }
    }

    func assertBatchEqualsOneAtATime(_ languageModel: LanguageModel, file: StaticString = #filePath, line: UInt = #line) throws {
        let requests = try requests(languageModel)
        let alone = try requests.map { try TextGenerator(languageModel).generate(promptIds: $0.promptIds, options: $0.options) }
        let together = try BatchGenerator(languageModel).generate(requests)
        for (index, (a, b)) in zip(alone, together).enumerated() {
            XCTAssertEqual(b.outputIds, a.outputIds, "request \(index)", file: file, line: line)
            XCTAssertEqual(b.text, a.text, "request \(index)", file: file, line: line)
            XCTAssertEqual(b.finishReason, a.finishReason, "request \(index)", file: file, line: line)
            XCTAssertEqual(b.replacedPositions, a.replacedPositions, "request \(index)", file: file, line: line)
        }
        XCTAssertEqual(Set(together.map(\.outputIds.count)).count > 1, true, "the answers end at different steps", file: file, line: line)
    }

    func testBatchedAnswersEqualOneAtATimeOnEveryFixtureModel() throws {
        for name in Fixtures.modelNames {
            try assertBatchEqualsOneAtATime(try LanguageModel.load(directory: Fixtures.model(name)))
        }
    }

    /// Under a decoding rule each answer has two streams; the batch reads all first streams as prompt tokens and every
    /// adapted stream as generated, and the rule replaces tokens in each answer as it does alone.
    func testBatchedAnswersUnderADecodingRuleEqualOneAtATime() throws {
        let name = try XCTUnwrap(Fixtures.modelNames.first { FileManager.default.fileExists(atPath: Fixtures.model($0).appendingPathComponent("lora").path) })
        let languageModel = try LanguageModel.load(directory: Fixtures.model(name))
        let adapter = try PEFTAdapter.load(from: Fixtures.model(name).appendingPathComponent("lora"))
        _ = try languageModel.model.applyLoRA(adapter.layers, scale: 4, scope: .generatedTokens, rule: AdaptedChoiceRule(), source: "lora")
        try assertBatchEqualsOneAtATime(languageModel)
        let results = try BatchGenerator(languageModel).generate(try requests(languageModel))
        XCTAssertTrue(results.contains { !$0.replacedPositions.isEmpty }, "the rule replaced tokens")
    }

    /// A session may join a batch that is already decoding (continuous batching) and a finished one drops out.
    func testSessionsJoinAndLeaveBetweenSteps() throws {
        let languageModel = try LanguageModel.load(directory: Fixtures.model(try XCTUnwrap(Fixtures.modelNames.first)))
        let requests = try requests(languageModel)
        let alone = try requests.map { try TextGenerator(languageModel).generate(promptIds: $0.promptIds, options: $0.options) }
        let batch = BatchGenerator(languageModel)
        var sessions = [try GenerationSession(languageModel, promptIds: requests[0].promptIds, options: requests[0].options)]
        var going = sessions
        for step in 0..<64 {
            if step == 3 || step == 5 {
                let request = requests[sessions.count]
                sessions.append(try GenerationSession(languageModel, promptIds: request.promptIds, options: request.options))
                going.append(sessions.last!)
            }
            going = try batch.step(going)
            if going.isEmpty && sessions.count == 3 { break }
        }
        XCTAssertEqual(sessions.count, 3)
        for (index, session) in sessions.enumerated() {
            XCTAssertTrue(session.isFinished)
            XCTAssertEqual(session.finish().outputIds, alone[index].outputIds, "request \(index)")
        }
    }
}
