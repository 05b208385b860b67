import XCTest
@testable import Runtime

final class ActivationTapTests: XCTestCase {
    func testTapDeliversTheLayerInputAndOutputAsComputed() throws {
        let name = try XCTUnwrap(Fixtures.modelNames.first)
        let model = try LanguageModel.load(directory: Fixtures.model(name)).model
        let layer = "model.layers.1.mlp.down_proj"
        let (inFeatures, outFeatures) = try XCTUnwrap(model.linearShape(layer))
        let weight = try XCTUnwrap(model.linearWeight(layer))
        var batches: [(rows: Int, first: Int, input: [Float], output: [Float])] = []
        let token = try model.addTap(layer: layer) { batch in
            XCTAssertEqual(batch.layer, layer)
            XCTAssertEqual(batch.inFeatures, inFeatures)
            batches.append((batch.rows, batch.firstPosition, Array(batch.input), Array(batch.output)))
        }
        let cache = model.makeCache()
        _ = try model.forward([3, 4, 5, 6, 7], cache: cache)
        _ = try model.forward([8], cache: cache)
        XCTAssertEqual(batches.map(\.rows), [5, 1])
        XCTAssertEqual(batches.map(\.first), [0, 5])
        // The output is the input times Wᵀ (down_proj has no bias in these fixtures unless mlp_bias is set).
        let last = try XCTUnwrap(batches.last)
        for o in stride(from: 0, to: outFeatures, by: max(1, outFeatures / 7)) {
            var sum: Double = 0
            for i in 0..<inFeatures { sum += Double(weight[o * inFeatures + i]) * Double(last.input[i]) }
            XCTAssertEqual(Double(last.output[o]), sum, accuracy: 1e-3)
        }
        model.removeTap(token)
        _ = try model.forward([9], cache: cache)
        XCTAssertEqual(batches.count, 2, "a removed tap must not be called")
    }

    func testEveryLinearLayerHasItsHuggingFaceName() throws {
        let name = try XCTUnwrap(Fixtures.modelNames.first)
        let model = try LanguageModel.load(directory: Fixtures.model(name)).model
        XCTAssertEqual(model.linearLayerNames.count, 7 * model.config.numHiddenLayers)
        XCTAssertEqual(model.linearLayerNames.first, "model.layers.0.self_attn.q_proj")
        XCTAssertTrue(model.linearLayerNames.contains("model.layers.0.mlp.gate_proj"))
    }
}
