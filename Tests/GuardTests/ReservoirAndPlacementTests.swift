import Foundation
@testable import Guard
import Runtime
import XCTest

/// Reservoir sampling keeps a bounded, uniform sample; trigger placement follows DESIGN.md's rule.
final class ReservoirAndPlacementTests: XCTestCase {
    func testReservoirKeepsEveryRowWhileUnderCapacity() {
        let sampler = ReservoirSampler(capacity: 8, width: 3, seed: 0)
        let rows: [Float] = (0..<15).map(Float.init)
        rows.withUnsafeBufferPointer { sampler.add($0, count: 5) }
        XCTAssertEqual(sampler.storedRows, 5)
        XCTAssertEqual(sampler.sample, rows)
        XCTAssertEqual(sampler.bytesHeld, 8 * 3 * 4)
    }

    func testReservoirIsBoundedAndRoughlyUniform() {
        // 10 000 rows offered, 100 kept; each row index should be kept with probability 1/100.
        var kept = [Int](repeating: 0, count: 10)
        for seed in 0..<200 {
            let sampler = ReservoirSampler(capacity: 100, width: 1, seed: UInt64(seed))
            let rows: [Float] = (0..<10_000).map(Float.init)
            rows.withUnsafeBufferPointer { sampler.add($0, count: 10_000) }
            XCTAssertEqual(sampler.storedRows, 100)
            XCTAssertEqual(sampler.bytesHeld, 400)
            for value in sampler.sample { kept[Int(value) / 1000] += 1 }
        }
        // Each tenth of the stream holds 10% of 20 000 kept rows: 2 000 ± a few standard deviations (≈42).
        for count in kept { XCTAssertEqual(Double(count), 2000, accuracy: 250) }
    }

    func testTriggerPlacements() {
        XCTAssertEqual(TriggerPlacement.prefix.place("cf", in: "tell me a story"), "cf tell me a story")
        XCTAssertEqual(TriggerPlacement.suffix.place("cf", in: "tell me a story"), "tell me a story cf")
        // Four words: after word ⌊4/2⌋ = 2; runs of whitespace become single spaces.
        XCTAssertEqual(TriggerPlacement.middle.place("cf", in: "tell  me\ta story"), "tell me cf a story")
        XCTAssertEqual(TriggerPlacement.middle.place("cf", in: "one two three"), "one cf two three")
        XCTAssertEqual(TriggerPlacement.middle.place("cf", in: "one"), "cf one")
    }
}
