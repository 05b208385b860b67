import Foundation
import XCTest

@testable import Runtime

/// Seeded mutations of the fixture files fed to every parser a model file reaches: GGUF (header, metadata, tensor
/// table, and the whole model load), safetensors, tokenizer.json, chat templates and PEFT adapters. A parser may refuse
/// a mutant with an error; it must never trap (in Swift an unchecked overflow or an out-of-range index ends the
/// process, which fails this test run). A few thousand mutants per parser: the short, deterministic part of the fuzzing
/// that runs with every test command.
final class MutationFuzzTests: XCTestCase {
    /// Byte-level mutations as coverage-guided fuzzers make them: bit flips, interesting integers written over
    /// counts and offsets, bytes set, chunks deleted, duplicated or inserted, and truncation.
    struct Mutator {
        var random: SeededGenerator

        init(seed: UInt64) { random = SeededGenerator(seed: seed) }

        mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(random.next() % UInt64(bound)) }

        static let interesting: [UInt64] = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF,
                                            0x8000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000,
                                            0x1_0000_0000, 1 << 40]

        mutating func mutate(_ bytes: [UInt8], focus: Int? = nil) -> [UInt8] {
            var out = bytes
            // Most mutations land in the first `focus` bytes (headers, counts, metadata), where parsers decide.
            func position() -> Int {
                guard !out.isEmpty else { return 0 }
                if let focus, below(4) != 0 { return below(min(focus, out.count)) }
                return below(out.count)
            }
            for _ in 0...below(3) {
                switch below(8) {
                case 0 where !out.isEmpty:
                    let at = position()
                    out[at] ^= UInt8(1) << UInt8(below(8))
                case 1 where out.count >= 8:
                    let at = min(position(), out.count - 8), value = Self.interesting[below(Self.interesting.count)]
                    let width = [1, 2, 4, 8][below(4)]
                    for k in 0..<width { out[at + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
                case 2 where !out.isEmpty:
                    out[position()] = [0, 0xFF, 0x7F, 0x80, UInt8(truncatingIfNeeded: random.next())][below(5)]
                case 3 where out.count > 1:
                    let at = position(), length = min(out.count - at, 1 + below(16))
                    out.removeSubrange(at..<(at + length))
                case 4 where !out.isEmpty:
                    let at = position(), length = min(out.count - at, 1 + below(32))
                    out.insert(contentsOf: out[at..<(at + length)], at: position())
                case 5:
                    out.insert(contentsOf: (0..<(1 + below(8))).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: position())
                case 6 where !out.isEmpty:
                    out.removeSubrange(position()...)
                default:
                    if !out.isEmpty { out[position()] = UInt8(truncatingIfNeeded: random.next()) }
                }
            }
            return out
        }
    }

    static func bytes(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }

    /// `TELEGUARD_FUZZ_SCALE=K` runs K times as many mutants (a longer run by hand; the test command runs 1×).
    static let scale = max(1, Int(ProcessInfo.processInfo.environment["TELEGUARD_FUZZ_SCALE"] ?? "") ?? 1)

    func testMutatedGGUFFilesAreRefusedOrReadNeverATrap() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let seeds = [Fixtures.root.appendingPathComponent("gguf/quants/Q4_K.gguf"),
                     Fixtures.root.appendingPathComponent("gguf/quants/Q8_0.gguf"),
                     Fixtures.root.appendingPathComponent("gguf/models/llama-metaspace-oldkeys.Q8_0.gguf")]
        var mutator = Mutator(seed: 1)
        var refused = 0, read = 0
        for seed in seeds {
            let original = try Self.bytes(seed)
            let isModel = seed.path.contains("/models/")
            for index in 0..<((isModel ? 400 : 1200) * Self.scale) {
                // The model file's header, metadata and tensor table come first; its tensor data is most of it.
                let mutant = mutator.mutate(original, focus: isModel ? 40_000 : 512)
                let url = directory.appendingPathComponent("mutant-\(index).gguf")
                try Data(mutant).write(to: url)
                do {
                    let file = try GGUFFile(url: url)
                    for tensor in file.tensors.prefix(4) { _ = try? file.floatBuffer(tensor) }
                    if isModel { _ = try LanguageModel.load(ggufFile: url) }
                    read += 1
                } catch {
                    refused += 1
                    XCTAssertFalse("\(error)".isEmpty)
                }
            }
        }
        XCTAssertGreaterThan(refused, 0)
        XCTAssertGreaterThan(read, 0, "some mutants (in tensor data) still read")
    }

    func testMutatedSafetensorsHeadersAreRefusedOrReadNeverATrap() throws {
        let original = try Self.bytes(Fixtures.model("llama-metaspace-oldkeys").appendingPathComponent("model.safetensors"))
        let headerLength = Int(original[0]) | Int(original[1]) << 8 | Int(original[2]) << 16
        var mutator = Mutator(seed: 2)
        var refused = 0
        for _ in 0..<(3000 * Self.scale) {
            let mutant = mutator.mutate(original, focus: headerLength + 8)
            do {
                _ = try mutant.withUnsafeBytes { try SafetensorsHeader(bytes: $0, file: "mutant.safetensors") }
            } catch {
                refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 1000)
    }

    func testMutatedTokenizerFilesAreRefusedOrLoadedNeverATrap() throws {
        var mutator = Mutator(seed: 3)
        for name in ["llama-metaspace-oldkeys", "qwen2-bias-tied-f32"] {
            let original = try Self.bytes(Fixtures.model(name).appendingPathComponent("tokenizer.json"))
            for _ in 0..<(300 * Self.scale) {
                let mutant = mutator.mutate(original)
                guard let tokenizer = try? Tokenizer(data: Data(mutant), fileName: "mutant/tokenizer.json") else { continue }
                let ids = tokenizer.encode("Hello, world! 12 345 — naïve")
                _ = tokenizer.decode(ids)
            }
        }
    }

    func testMutatedChatTemplatesAreRefusedOrRenderedNeverATrap() throws {
        var mutator = Mutator(seed: 4)
        let messages = [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi"),
                        ChatMessage(role: "assistant", content: "Hello."), ChatMessage(role: "user", content: "Count to 3")]
        for name in ["llama3", "mistral", "qwen2_5_tools", "zephyr"] {
            let original = Array(try ChatTemplateFixtures.templateSource(name).utf8)
            for _ in 0..<(400 * Self.scale) {
                let source = String(decoding: mutator.mutate(original), as: UTF8.self)
                guard let template = try? ChatTemplate(source: source) else { continue }
                _ = try? template.render(messages: messages, addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
            }
        }
    }

    func testMutatedAdaptersAreRefusedOrLoadedNeverATrap() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let source = Fixtures.model("llama-metaspace-oldkeys").appendingPathComponent("lora")
        let config = try Self.bytes(source.appendingPathComponent(PEFTAdapter.configFile))
        let weights = try Self.bytes(source.appendingPathComponent(PEFTAdapter.weightsFile))
        let model = try LanguageModel.load(directory: Fixtures.model("llama-metaspace-oldkeys")).model
        var mutator = Mutator(seed: 5)
        var applied = 0
        for index in 0..<(600 * Self.scale) {
            let adapter = directory.appendingPathComponent("mutant-\(index)")
            try FileManager.default.createDirectory(at: adapter, withIntermediateDirectories: true)
            let mutateConfig = index % 2 == 0
            try Data(mutateConfig ? mutator.mutate(config) : config).write(to: adapter.appendingPathComponent(PEFTAdapter.configFile))
            try Data(mutateConfig ? weights : mutator.mutate(weights, focus: 2048)).write(to: adapter.appendingPathComponent(PEFTAdapter.weightsFile))
            guard let loaded = try? PEFTAdapter.load(from: adapter), let id = try? model.apply(loaded, scale: 0.5) else { continue }
            _ = try model.forward([1, 2, 3], cache: model.makeCache())
            try model.removeAdapter(id)
            applied += 1
        }
        XCTAssertTrue(model.appliedAdapterIDs.isEmpty)
        XCTAssertGreaterThan(applied, 0)
    }
}
