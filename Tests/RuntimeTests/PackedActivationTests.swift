import XCTest
@testable import Runtime

/// `runForActivations` packs independent sequences into one pass; its taps must see what one forward pass per
/// sequence shows them: the same segments in the same order, the same values to float tolerance.
final class PackedActivationTests: XCTestCase {
    struct Delivery: Equatable {
        let layer: String
        let rows: Int
        let firstPosition: Int
    }

    func deliveries(_ model: LlamaModel, run: () throws -> Void) throws -> (order: [Delivery], inputs: [String: [Float]], outputs: [String: [Float]]) {
        var order: [Delivery] = []
        var inputs: [String: [Float]] = [:], outputs: [String: [Float]] = [:]
        var tokens: [ActivationTapToken] = []
        for name in model.linearLayerNames {
            tokens.append(try model.addTap(layer: name) { batch in
                order.append(Delivery(layer: batch.layer, rows: batch.rows, firstPosition: batch.firstPosition))
                inputs[batch.layer, default: []].append(contentsOf: batch.input)
                outputs[batch.layer, default: []].append(contentsOf: batch.output)
            })
        }
        defer { for token in tokens { model.removeTap(token) } }
        try run()
        return (order, inputs, outputs)
    }

    func testPackedPassesGiveEachSequenceItsOwnForwardPassActivations() throws {
        let sequences = [[3, 4, 5, 6, 7], [8], [9, 10, 11, 12, 13, 14, 15], [16, 17, 18]]
        for name in Fixtures.modelNames {
            let model = try LanguageModel.load(directory: Fixtures.model(name)).model
            let alone = try deliveries(model) {
                for tokens in sequences { _ = try model.forward(tokens, cache: model.makeCache(capacity: tokens.count)) }
            }
            // 8 rows per pass: the first two sequences share a pass, the third runs alone, the fourth in a third.
            var passes: [Int] = []
            let packed = try deliveries(model) {
                try model.runForActivations(sequences, maxRowsPerPass: 8) { passes.append($0) }
            }
            XCTAssertEqual(passes, [2, 3, 4], name)
            // Per layer, segments arrive in sequence order; across layers a packed pass interleaves differently.
            for layer in model.linearLayerNames {
                XCTAssertEqual(packed.order.filter { $0.layer == layer }, alone.order.filter { $0.layer == layer }, "\(name) \(layer)")
                for (kind, found, expected) in [("input", packed.inputs, alone.inputs), ("output", packed.outputs, alone.outputs)] {
                    let f = try XCTUnwrap(found[layer]), e = try XCTUnwrap(expected[layer])
                    XCTAssertEqual(f.count, e.count)
                    let worst = zip(f, e).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                    XCTAssertLessThan(worst, 1e-5, "\(name) \(layer) \(kind)")
                }
            }
        }
    }

    func testPackedPassRefusesBadSequencesBeforeRunningAny() throws {
        let name = try XCTUnwrap(Fixtures.modelNames.first)
        let model = try LanguageModel.load(directory: Fixtures.model(name)).model
        var calls = 0
        let token = try model.addTap(layer: "model.layers.0.self_attn.q_proj") { _ in calls += 1 }
        defer { model.removeTap(token) }
        XCTAssertThrowsError(try model.runForActivations([[3, 4], []])) { XCTAssertEqual($0 as? ModelError, .emptyInput) }
        let vocabulary = model.vocabularySize
        XCTAssertThrowsError(try model.runForActivations([[3], [vocabulary]])) {
            XCTAssertEqual($0 as? ModelError, .tokenOutOfRange(id: vocabulary, vocabularySize: vocabulary))
        }
        let tooLong = [Int](repeating: 3, count: model.contextLength + 1)
        XCTAssertThrowsError(try model.runForActivations([tooLong])) {
            XCTAssertEqual($0 as? ModelError, .contextOverflow(needed: model.contextLength + 1, capacity: model.contextLength))
        }
        XCTAssertEqual(calls, 0, "a refused call runs nothing")
    }
}
