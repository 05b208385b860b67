import Foundation
import XCTest

@testable import Runtime

final class SafetensorsWeightStoreTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.remove() }

    private let embed: (name: String, shape: [Int], values: [Float]) = ("model.embed_tokens.weight", [3, 2], [1, 2, 3, 4, 5, 6])
    private let norm: (name: String, shape: [Int], values: [Float]) = ("model.norm.weight", [2], [0.5, 0.25])
    private let head: (name: String, shape: [Int], values: [Float]) = ("lm_head.weight", [3, 2], [-1, -2, -3, -4, -5, -6])

    private func writeIndex(_ weightMap: [String: String]) throws {
        let entries = weightMap.sorted { $0.key < $1.key }.map { #""\#($0.key)":"\#($0.value)""# }
        let json = #"{"metadata":{"total_size":60},"weight_map":{"# + entries.joined(separator: ",") + "}}"
        try Data(json.utf8).write(to: directory.file(WeightStore.indexFileName))
    }

    func testSingleFileModel() throws {
        try SafetensorsWriter.write([embed, norm, head], dtype: .bf16, to: directory.file("model.safetensors"))
        let store = try WeightStore(directory: directory.url)
        XCTAssertEqual(store.files, [directory.file("model.safetensors")])
        XCTAssertEqual(store.tensorNames, ["lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"])
        XCTAssertTrue(store.contains(norm.name))
        XCTAssertFalse(store.contains("model.layers.0.mlp.up_proj.weight"))
        XCTAssertEqual(store.info(embed.name)?.shape, [3, 2])
        XCTAssertEqual(store.info(embed.name)?.dtype, .bf16)
        XCTAssertEqual(try store.floatBuffer(embed.name, expectedShape: [3, 2]).array, embed.values)
        XCTAssertEqual(try store.floatBuffer(head.name).array, head.values)
        XCTAssertEqual(store.parameterCountByDType, [.bf16: 14])
    }

    func testCompressedSingleFileModel() throws {
        try SafetensorsWriter.write([embed, norm], dtype: .f16, to: directory.file("model.safetensors.zst"))
        let store = try WeightStore(directory: directory.url)
        XCTAssertEqual(store.files, [directory.file("model.safetensors.zst")])
        XCTAssertEqual(try store.floatBuffer(norm.name).array, norm.values)
    }

    func testShardedModelFollowsTheIndexWithPlainAndCompressedShards() throws {
        let first = "model-00001-of-00002.safetensors"
        let second = "model-00002-of-00002.safetensors"
        try SafetensorsWriter.write([embed, norm], to: directory.file(first))
        try SafetensorsWriter.write([head], dtype: .f16, to: directory.file(second + ".zst"))
        try writeIndex([embed.name: first, norm.name: first, head.name: second])

        let store = try WeightStore(directory: directory.url)
        XCTAssertEqual(Set(store.files), [directory.file(first), directory.file(second + ".zst")])
        XCTAssertEqual(store.tensorNames, ["lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"])
        for tensor in [embed, norm, head] {
            XCTAssertEqual(try store.floatBuffer(tensor.name, expectedShape: tensor.shape).array, tensor.values)
        }
        XCTAssertEqual(store.parameterCountByDType, [.f32: 8, .f16: 6])
    }

    func testDirectoryWithoutModelFileReadsEverySafetensorsFile() throws {
        try SafetensorsWriter.write([embed], to: directory.file("adapter_model.safetensors"))
        try SafetensorsWriter.write([norm], to: directory.file("extra.safetensors.zst"))
        try Data("{}".utf8).write(to: directory.file("adapter_config.json"))
        let store = try WeightStore(directory: directory.url)
        XCTAssertEqual(store.files, [directory.file("adapter_model.safetensors"), directory.file("extra.safetensors.zst")])
        XCTAssertEqual(store.tensorNames, [embed.name, norm.name])
    }

    func testDirectoryWithoutWeights() throws {
        try Data("{}".utf8).write(to: directory.file("config.json"))
        assertThrows(SafetensorsError.noWeights(directory: directory.url.path)) {
            _ = try WeightStore(directory: directory.url)
        }
        let absent = directory.file("absent")
        assertThrows(SafetensorsError.noWeights(directory: absent.path)) { _ = try WeightStore(directory: absent) }
    }

    func testMissingTensorNamesDirectoryAndTensor() throws {
        try SafetensorsWriter.write([embed], to: directory.file("model.safetensors"))
        let store = try WeightStore(directory: directory.url)
        assertThrows(SafetensorsError.missingTensor(path: directory.url.path, tensor: "lm_head.weight")) {
            _ = try store.floatBuffer("lm_head.weight")
        }
    }

    func testShapeMismatchNamesFileTensorExpectedAndFound() throws {
        let url = directory.file("model.safetensors")
        try SafetensorsWriter.write([embed], to: url)
        let store = try WeightStore(directory: directory.url)
        assertThrows(
            SafetensorsError.shapeMismatch(file: url.path, tensor: embed.name, expected: [2, 3], found: [3, 2])
        ) { _ = try store.floatBuffer(embed.name, expectedShape: [2, 3]) }
    }

    func testIndexThatIsNotJSONOrHasNoWeightMap() throws {
        let index = directory.file(WeightStore.indexFileName)
        try Data("{\"weight_map\": ".utf8).write(to: index)
        XCTAssertThrowsError(try WeightStore(directory: directory.url)) { error in
            guard case let .malformedIndex(file, reason) = error as? SafetensorsError else {
                return XCTFail("expected malformedIndex, got \(error)")
            }
            XCTAssertEqual(file, index.path)
            XCTAssertTrue(reason.hasPrefix("not valid JSON"), reason)
        }
        for (json, reason) in [
            (#"{"metadata":{}}"#, "missing 'weight_map'"),
            (#"{"weight_map":["a"]}"#, "'weight_map' is not an object"),
            (#"{"weight_map":{"a":1}}"#, "weight_map entry 'a' is not a file name"),
            ("[]", "not a JSON object"),
        ] {
            try Data(json.utf8).write(to: index)
            assertThrows(SafetensorsError.malformedIndex(file: index.path, reason: reason)) {
                _ = try WeightStore(directory: directory.url)
            }
        }
    }

    func testIndexNamingAShardThatDoesNotExist() throws {
        try SafetensorsWriter.write([embed], to: directory.file("model-00001-of-00002.safetensors"))
        try writeIndex([embed.name: "model-00001-of-00002.safetensors", head.name: "model-00002-of-00002.safetensors"])
        assertThrows(
            SafetensorsError.missingShard(
                file: directory.file(WeightStore.indexFileName).path, shard: "model-00002-of-00002.safetensors")
        ) { _ = try WeightStore(directory: directory.url) }
    }

    func testIndexNamingATensorTheShardDoesNotContain() throws {
        try SafetensorsWriter.write([embed], to: directory.file("model-00001-of-00001.safetensors"))
        try writeIndex([embed.name: "model-00001-of-00001.safetensors", head.name: "model-00001-of-00001.safetensors"])
        assertThrows(
            SafetensorsError.tensorNotInShard(
                file: directory.file(WeightStore.indexFileName).path, tensor: head.name,
                shard: "model-00001-of-00001.safetensors")
        ) { _ = try WeightStore(directory: directory.url) }
    }

    func testSameTensorInTwoFilesWithoutAnIndex() throws {
        try SafetensorsWriter.write([embed], to: directory.file("a.safetensors"))
        try SafetensorsWriter.write([embed], to: directory.file("b.safetensors"))
        assertThrows(
            SafetensorsError.duplicateTensor(
                tensor: embed.name, file: directory.file("a.safetensors").path,
                otherFile: directory.file("b.safetensors").path)
        ) { _ = try WeightStore(directory: directory.url) }
    }

    func testInvalidShardIsReportedWithTheShardsPath() throws {
        let shard = directory.file("model-00001-of-00001.safetensors")
        try Data([0, 1, 2]).write(to: shard)
        try writeIndex([embed.name: "model-00001-of-00001.safetensors"])
        assertThrows(SafetensorsError.truncated(file: shard.path, size: 3)) { _ = try WeightStore(directory: directory.url) }
    }
}
