import XCTest
@testable import Runtime

final class ModelConfigTests: XCTestCase {
    private func decode(_ json: String) throws -> ModelConfig {
        try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8))
    }

    private let base = """
    "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100
    """

    func testOlderAndNewerRopeKeysResolveTheSame() throws {
        let older = try decode("{\(base), \"rope_theta\": 500000.0, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}}")
        let newer = try decode("{\(base), \"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 500000.0, \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}}")
        XCTAssertEqual(try older.rope(file: "a"), try newer.rope(file: "b"))
        XCTAssertEqual(try older.rope(file: "a"), RopeParameters(theta: 500000, scaling: .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192)))
        let legacyType = try decode("{\(base), \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}}")
        XCTAssertEqual(try legacyType.rope(file: "c"), RopeParameters(theta: 10000, scaling: .linear(factor: 2)))
    }

    func testDefaultsFollowTransformers() throws {
        let config = try decode("{\(base)}")
        XCTAssertEqual(config.headDimension, 16)
        XCTAssertEqual(config.keyValueHeads, 2)
        XCTAssertFalse(try config.hasQKVBias(file: "x"))
        var qwen = config
        qwen.architectures = ["Qwen2ForCausalLM"]
        XCTAssertTrue(try qwen.hasQKVBias(file: "x"))
        XCTAssertFalse(try qwen.hasOutputProjectionBias(file: "x"))
    }

    func testEosTokenIdMayBeAListOrAnInt() throws {
        XCTAssertEqual(try decode("{\(base), \"eos_token_id\": [1, 2]}").eosTokenId?.ids, [1, 2])
        XCTAssertEqual(try decode("{\(base), \"eos_token_id\": 7}").eosTokenId?.ids, [7])
    }

    func testHeadsThatDoNotDivideAreRefused() throws {
        let config = try decode("{\(base.replacingOccurrences(of: "\"num_key_value_heads\": 2", with: "\"num_key_value_heads\": 3"))}")
        XCTAssertThrowsError(try config.validate(file: "config.json")) { error in
            XCTAssertEqual(error as? ModelConfigError, .invalidValue(file: "config.json", field: "num_key_value_heads",
                                                                     detail: "3 does not divide num_attention_heads 4"))
        }
    }
}
