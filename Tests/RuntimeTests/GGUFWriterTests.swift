import Foundation
import XCTest

@testable import Runtime

/// `GGUFRequantizer` (behind `teleguard quantize`): the written file reads back with the same metadata (but the
/// file type) and tensors, its matrices byte for byte `GGUFQuantization`'s blocks of the dequantized source (which
/// equal `gguf.quants.quantize`), and it loads as the same model. The writer's layout was also checked against the
/// gguf package's reader and llama.cpp on SmolLM2 (see the closing note of this change).
final class GGUFWriterTests: XCTestCase {
    private func temporaryURL(_ name: String) -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("teleguard-gguf-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return directory.appendingPathComponent(name)
    }

    func testRequantizedFileKeepsEverythingButTheMatrixBlocks() throws {
        for (name, type) in [("qwen2-bias-tied-f32", GGMLType.q8_0), ("llama-metaspace-oldkeys.Q8_0", .q4_0)] {
            let source = try GGUFFile(url: GGUFModelParityTests.file(name))
            let output = temporaryURL("\(name).\(type).gguf")
            let summary = try GGUFRequantizer.requantize(source, to: type, output: output)
            let written = try GGUFFile(url: output)

            XCTAssertEqual(written.version, 3)
            XCTAssertEqual(written.metadataKeys.filter { $0 != "general.file_type" && $0 != "general.quantization_version" },
                           source.metadataKeys.filter { $0 != "general.file_type" && $0 != "general.quantization_version" }, name)
            for key in source.metadataKeys where key != "general.file_type" {
                XCTAssertEqual(written.metadata[key], source.metadata[key], "\(name): \(key)")
            }
            XCTAssertEqual(written.metadata["general.file_type"], .uint32(type == .q8_0 ? 7 : 2))
            XCTAssertEqual(written.tensors.map(\.name), source.tensors.map(\.name))
            var requantized = 0
            for (new, old) in zip(written.tensors, source.tensors) {
                XCTAssertEqual(new.dimensions, old.dimensions, new.name)
                let bytes = written.withBytes(of: new) { Array($0) }
                if old.dimensions.count >= 2 && old.dimensions[0] % 32 == 0 {
                    requantized += 1
                    XCTAssertEqual(new.type, type, new.name)
                    let values = try source.floatBuffer(old)
                    XCTAssertEqual(bytes, try GGUFQuantization.quantize(UnsafeBufferPointer(values.buffer), as: type), new.name)
                } else {
                    XCTAssertEqual(new.type, old.type, new.name)
                    XCTAssertEqual(bytes, source.withBytes(of: old) { Array($0) }, new.name)
                }
            }
            XCTAssertGreaterThan(requantized, 0, name)
            XCTAssertEqual(summary.requantized, requantized)
            XCTAssertEqual(summary.copied, source.tensors.count - requantized)

            // The same model, now in other blocks: config, tokenizer and fingerprint carry over.
            let original = try LanguageModel.load(path: GGUFModelParityTests.file(name), precision: .float32)
            let model = try LanguageModel.load(path: output)
            XCTAssertEqual(model.fingerprint, original.fingerprint, name)
            XCTAssertEqual(model.tokenizer.encode("Hello, world!"), original.tokenizer.encode("Hello, world!"), name)
            XCTAssertNotNil(model.model.matrixStorage.parametersByType[type.description], "\(name): kept in \(type) blocks")
            XCTAssertFalse(try model.model.forward([1, 2, 3], cache: model.model.makeCache()).contains { !$0.isFinite }, name)
        }
    }

    func testUnwritableOutputAndUnsupportedTypesFailWithoutLeavingFiles() throws {
        let source = try GGUFFile(url: GGUFModelParityTests.file("qwen2-bias-tied-f32"))
        let missing = URL(fileURLWithPath: "/nonexistent-directory/out.gguf")
        XCTAssertThrowsError(try GGUFRequantizer.requantize(source, to: .q8_0, output: missing)) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent-directory/out.gguf: cannot write"), "\(error)")
        }
        let output = temporaryURL("out.gguf")
        XCTAssertThrowsError(try GGUFRequantizer.requantize(source, to: .q4_K, output: output)) { error in
            XCTAssertEqual("\(error)", "\(output.path): cannot write Q4_K (supported: Q8_0, Q4_0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
        let siblings = try FileManager.default.contentsOfDirectory(atPath: output.deletingLastPathComponent().path)
        XCTAssertEqual(siblings, [], "no partial file left behind")
    }
}
