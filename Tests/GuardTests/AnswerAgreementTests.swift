import Foundation
import XCTest

@testable import Guard

/// The long-answer metrics equal Python difflib's over token ids (SequenceMatcher(None, reference, guarded,
/// autojunk=False)) on the fixture `python -m training.long_answers --write-fixture` made, which training's own tests
/// check against the same module: verify and the training evaluation share one definition.
final class AnswerAgreementTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable { let reference: [Int]; let guarded: [Int]; let matched: Int; let ratio: Double; let identical: Bool }
        struct Summary: Decodable {
            let answer_agreement: Double, answers_identical: Double, touch_rate: Double, tokens_touched: Double
        }
        let cases: [Case]
        let summary: Summary
    }

    func fixture() throws -> Fixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/long_answer_cases.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func testMatchedTokensAndRatioEqualDifflibOnEveryFixtureCase() throws {
        let fixture = try fixture()
        XCTAssertGreaterThanOrEqual(fixture.cases.count, 40)
        for (index, item) in fixture.cases.enumerated() {
            let found = AnswerAgreement(reference: item.reference, guarded: item.guarded)
            XCTAssertEqual(found.matched, item.matched, "case \(index)")
            XCTAssertEqual(found.ratio, item.ratio, "case \(index)")
            XCTAssertEqual(found.identical, item.identical, "case \(index)")
        }
    }

    func testSummaryEqualsTheTrainingSide() throws {
        let fixture = try fixture()
        let summary = AnswerAgreementSummary(fixture.cases.map { AnswerAgreement(reference: $0.reference, guarded: $0.guarded) })
        XCTAssertEqual(summary.answerAgreement, fixture.summary.answer_agreement, accuracy: 1e-12)
        XCTAssertEqual(summary.answersIdentical, fixture.summary.answers_identical, accuracy: 1e-12)
        XCTAssertEqual(summary.touchRate, fixture.summary.touch_rate, accuracy: 1e-12)
        XCTAssertEqual(summary.tokensTouched, fixture.summary.tokens_touched, accuracy: 1e-12)
    }

    /// difflib takes the longest block first, leftmost on ties, then looks left and right of it: here the block
    /// [1, 2, 3] leaves nothing to match around it, so the two 9s count for nothing.
    func testLongestBlockFirstAsDifflibDoes() {
        XCTAssertEqual(AnswerAgreement(reference: [1, 2, 3, 9, 9], guarded: [9, 9, 1, 2, 3]).matched, 3)
        XCTAssertEqual(AnswerAgreement.matchingBlocks([1, 2, 1, 2, 1, 2], [2, 1, 2, 1]).map(\.size), [4])
        XCTAssertEqual(AnswerAgreement(reference: [], guarded: []).ratio, 1)
        XCTAssertEqual(AnswerAgreement(reference: [1, 2, 3, 4], guarded: [1, 2]).touchedTokens, 2)
    }
}
