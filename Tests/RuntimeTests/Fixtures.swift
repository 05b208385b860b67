import Foundation
import XCTest

/// Paths and parsed `expected.json` of the reference fixtures made by Tests/Fixtures/make_fixtures.py.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static let models = root.appendingPathComponent("models")

    /// Every model fixture directory (each holds config.json and expected.json).
    static var modelNames: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: models.path)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: models.appendingPathComponent("\($0)/expected.json").path) }.sorted()
    }

    static func model(_ name: String) -> URL { models.appendingPathComponent(name) }

    static func expected(_ name: String) throws -> ExpectedOutputs {
        let data = try Data(contentsOf: model(name).appendingPathComponent("expected.json"))
        return try JSONDecoder().decode(ExpectedOutputs.self, from: data)
    }

    /// A scratch directory removed when the test ends.
    static func temporaryDirectory(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("teleguard-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Copies a fixture model into a scratch directory so a test can damage it.
    static func copyOfModel(_ name: String, test: XCTestCase) throws -> URL {
        let target = try temporaryDirectory(test).appendingPathComponent(name)
        try FileManager.default.copyItem(at: model(name), to: target)
        return target
    }
}

struct ExpectedOutputs: Decodable {
    struct TokenizerCase: Decodable {
        let text: String
        let ids: [Int]
        let ids_no_special: [Int]
        let decoded: String
        let decoded_skip_special: String
    }
    struct Message: Decodable { let role: String; let content: String }
    struct ChatCase: Decodable {
        let messages: [Message]
        let add_generation_prompt: Bool
        let rendered: String
        let ids: [Int]
    }
    struct LogitsCase: Decodable { let prompt_ids: [Int]; let last_logits: [Float] }
    struct GreedyCase: Decodable { let prompt_ids: [Int]; let output_ids: [Int] }
    struct LoRACase: Decodable { let adapter: String; let logits: [LogitsCase]; let greedy: [GreedyCase] }
    struct LoRAStackCase: Decodable { let adapters: [String]; let weights: [Float]; let logits: [LogitsCase] }

    let tokenizer: [TokenizerCase]
    let chat: [ChatCase]
    let logits: [LogitsCase]
    let greedy: [GreedyCase]
    let lora: LoRACase?
    let lora_stack: LoRAStackCase?
}
