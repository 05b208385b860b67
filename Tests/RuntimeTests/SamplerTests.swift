import XCTest
@testable import Runtime

final class SamplerTests: XCTestCase {
    let logits: [Float] = [log(0.5), log(0.3), log(0.15), log(0.05)]

    func testGreedyTakesTheFirstMaximumLikeTorchArgmax() {
        var sampler = Sampler(parameters: SamplingParameters())
        XCTAssertEqual(sampler.sample([0, 2, 2, 1], previousTokens: []), 1)
    }

    func testSameSeedGivesTheSameTokens() {
        let parameters = SamplingParameters(temperature: 1, seed: 42)
        var first = Sampler(parameters: parameters), second = Sampler(parameters: parameters)
        let a = (0..<50).map { _ in first.sample(logits, previousTokens: []) }
        let b = (0..<50).map { _ in second.sample(logits, previousTokens: []) }
        XCTAssertEqual(a, b)
        XCTAssertGreaterThan(Set(a).count, 1)
    }

    func testSampledFrequenciesFollowTheSoftmax() {
        var sampler = Sampler(parameters: SamplingParameters(temperature: 1, seed: 7))
        var counts = [0, 0, 0, 0]
        let draws = 20000
        for _ in 0..<draws { counts[sampler.sample(logits, previousTokens: [])] += 1 }
        for (count, p) in zip(counts, [0.5, 0.3, 0.15, 0.05]) {
            XCTAssertEqual(Double(count) / Double(draws), p, accuracy: 0.015)
        }
    }

    func testTopKTopPAndMinPRestrictTheCandidates() {
        var topK = Sampler(parameters: SamplingParameters(temperature: 1, topK: 2, seed: 1))
        XCTAssertTrue((0..<300).allSatisfy { _ in topK.sample(logits, previousTokens: []) < 2 })
        var topP = Sampler(parameters: SamplingParameters(temperature: 1, topP: 0.75, seed: 2))
        XCTAssertTrue((0..<300).allSatisfy { _ in topP.sample(logits, previousTokens: []) < 2 })
        var minP = Sampler(parameters: SamplingParameters(temperature: 1, minP: 0.5, seed: 3))
        XCTAssertTrue((0..<300).allSatisfy { _ in minP.sample(logits, previousTokens: []) < 2 })
    }

    func testRepetitionPenaltyFollowsTransformers() {
        // Positive scores are divided, negative ones multiplied (CTRL, as transformers applies it).
        var sampler = Sampler(parameters: SamplingParameters(repetitionPenalty: 2))
        XCTAssertEqual(sampler.sample([3.0, 2.0, -1.0], previousTokens: [0]), 1)  // 3/2 = 1.5 < 2
        XCTAssertEqual(sampler.sample([-1.0, -1.5], previousTokens: [0]), 1)     // -2 < -1.5
    }

    func testInvalidParametersNameTheField() {
        XCTAssertThrowsError(try SamplingParameters(topP: 0).validate()) { error in
            XCTAssertTrue("\(error)".contains("top_p"))
        }
        XCTAssertThrowsError(try SamplingParameters(temperature: -1).validate()) { error in
            XCTAssertTrue("\(error)".contains("temperature"))
        }
    }
}

final class StopStringMatcherTests: XCTestCase {
    func testTextThatMightStartAStopStringIsHeldBack() {
        var matcher = StopStringMatcher(stopStrings: ["</end>"])
        XCTAssertEqual(matcher.append("Hello <").emit, "Hello ")
        XCTAssertEqual(matcher.append("/e").emit, "")
        let result = matcher.append("nd> tail")
        XCTAssertEqual(result.emit, "")
        XCTAssertTrue(result.stopped)
        XCTAssertEqual(matcher.text, "Hello ")
    }

    func testAFalseStartIsReleased() {
        var matcher = StopStringMatcher(stopStrings: ["STOP"])
        XCTAssertEqual(matcher.append("ST").emit, "")
        XCTAssertEqual(matcher.append("ART").emit, "START")
        XCTAssertEqual(matcher.flush(), "")
    }
}
