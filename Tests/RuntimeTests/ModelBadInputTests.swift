import XCTest
@testable import Runtime

/// Each class of bad model input gets a typed error naming the file and field; none crashes.
final class ModelBadInputTests: XCTestCase {
    /// A fixture stored as plain F32, so tests can rewrite its tensors.
    var plainModel: String { Fixtures.modelNames.first { $0.contains("f32") } ?? Fixtures.modelNames[0] }

    private func editConfig(_ directory: URL, _ edit: (inout [String: Any]) -> Void) throws {
        let url = directory.appendingPathComponent("config.json")
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    func testUnknownArchitectureIsRefused() throws {
        let directory = try Fixtures.copyOfModel(plainModel, test: self)
        try editConfig(directory) { $0["architectures"] = ["GPT2LMHeadModel"] }
        XCTAssertThrowsError(try LanguageModel.load(directory: directory)) { error in
            XCTAssertEqual(error as? ModelConfigError,
                           .unknownArchitecture(file: directory.appendingPathComponent("config.json").path, found: ["GPT2LMHeadModel"]))
        }
    }

    func testConfigMissingAFieldNamesIt() throws {
        let directory = try Fixtures.copyOfModel(plainModel, test: self)
        try editConfig(directory) { $0.removeValue(forKey: "hidden_size") }
        XCTAssertThrowsError(try LanguageModel.load(directory: directory)) { error in
            XCTAssertTrue("\(error)".contains("hidden_size"), "\(error)")
            XCTAssertTrue("\(error)".contains("config.json"), "\(error)")
        }
    }

    func testUnsupportedRopeTypeNamesTheField() throws {
        let directory = try Fixtures.copyOfModel(plainModel, test: self)
        try editConfig(directory) {
            $0.removeValue(forKey: "rope_parameters")
            $0["rope_scaling"] = ["rope_type": "yarn", "factor": 4.0]
        }
        XCTAssertThrowsError(try LanguageModel.load(directory: directory)) { error in
            XCTAssertEqual(error as? ModelConfigError, .unsupportedRopeType(
                file: directory.appendingPathComponent("config.json").path, field: "rope_scaling.rope_type", ropeType: "yarn"))
        }
    }

    func testTensorShapeNotMatchingConfigIsRefused() throws {
        let directory = try Fixtures.copyOfModel(plainModel, test: self)
        var intermediate = 0
        try editConfig(directory) {
            intermediate = ($0["intermediate_size"] as? Int ?? 0) + 1
            $0["intermediate_size"] = intermediate
        }
        XCTAssertThrowsError(try LanguageModel.load(directory: directory)) { error in
            guard case .shapeMismatch(_, let tensor, let expected, _)? = error as? SafetensorsError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(tensor, "model.layers.0.mlp.gate_proj.weight")
            XCTAssertEqual(expected.first, intermediate)
        }
    }

    func testMissingTensorIsRefused() throws {
        let directory = try Fixtures.copyOfModel(plainModel, test: self)
        let url = directory.appendingPathComponent("model.safetensors")
        let file = try SafetensorsFile(url: url)
        let dropped = "model.layers.1.mlp.up_proj.weight"
        XCTAssertNotNil(file.tensors[dropped])
        let kept = try file.tensors.keys.sorted().filter { $0 != dropped }.map { name in
            (name: name, shape: file.tensors[name]!.shape, values: try file.floats(name))
        }
        try SafetensorsWriter.write(kept, to: url)
        XCTAssertThrowsError(try LanguageModel.load(directory: directory)) { error in
            guard case .missingTensor(_, let tensor)? = error as? SafetensorsError else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(tensor, dropped)
        }
    }

    func testMalformedTokenizerJSONIsRefused() throws {
        let directory = try Fixtures.copyOfModel(plainModel, test: self)
        try Data("{\"model\": {\"type\": \"BPE\"".utf8).write(to: directory.appendingPathComponent("tokenizer.json"))
        XCTAssertThrowsError(try LanguageModel.load(directory: directory)) { error in
            XCTAssertTrue(error is TokenizerError, "unexpected \(error)")
            XCTAssertTrue("\(error)".contains("tokenizer.json"), "\(error)")
        }
    }

    func testTokenIdOutsideTheVocabularyIsRefused() throws {
        let model = try LanguageModel.load(directory: Fixtures.model(plainModel)).model
        XCTAssertThrowsError(try model.forward([1, model.vocabularySize], cache: model.makeCache())) { error in
            XCTAssertEqual(error as? ModelError, .tokenOutOfRange(id: model.vocabularySize, vocabularySize: model.vocabularySize))
        }
        XCTAssertThrowsError(try model.forward([-1], cache: model.makeCache())) { error in
            XCTAssertEqual(error as? ModelError, .tokenOutOfRange(id: -1, vocabularySize: model.vocabularySize))
        }
    }

    func testPromptLongerThanTheContextIsRefused() throws {
        let languageModel = try LanguageModel.load(directory: Fixtures.model(plainModel))
        let context = languageModel.model.contextLength
        let prompt = [Int](repeating: 1, count: context + 5)
        XCTAssertThrowsError(try TextGenerator(languageModel).generate(promptIds: prompt, options: GenerationOptions())) { error in
            XCTAssertEqual(error as? GenerationError, .promptTooLong(promptTokens: context + 5, contextLength: context))
        }
        let model = languageModel.model
        let cache = model.makeCache(capacity: 8)
        XCTAssertThrowsError(try model.forward([Int](repeating: 1, count: 9), cache: cache)) { error in
            XCTAssertEqual(error as? ModelError, .contextOverflow(needed: 9, capacity: 8))
        }
        XCTAssertEqual(cache.length, 0, "a refused forward must leave the cache untouched")
    }

    func testUnknownTapLayerIsRefused() throws {
        let model = try LanguageModel.load(directory: Fixtures.model(plainModel)).model
        XCTAssertThrowsError(try model.addTap(layer: "model.layers.99.mlp.down_proj") { _ in }) { error in
            guard case .unknownLayer(let name, _)? = error as? ModelError else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(name, "model.layers.99.mlp.down_proj")
        }
    }
}
