import Foundation
import XCTest

@testable import Runtime

/// The fixture models converted to GGUF as llama.cpp's converter does (Tests/Fixtures/make_gguf_fixtures.py: q/k
/// rows permuted, rope_freqs for llama3 scaling, F32/F16/BF16 and one Q8_0 file, tokenizers as `tokenizer.ggml.*`),
/// read by the runtime and compared with transformers' own GGUF loading.
///
/// Where transformers' GGUF mapping drops something the file states (Llama `attention_bias`, linear rope scaling,
/// `rope_freqs`), the reference is transformers' GGUF loading with that config field passed back in
/// (`last_logits_with_hf_config`): the runtime reads the whole file, as llama.cpp does.
final class GGUFModelParityTests: XCTestCase {
    struct Expected: Decodable {
        struct Logits: Decodable {
            let prompt_ids: [Int]
            let last_logits: [Float]
            let last_logits_with_hf_config: [Float]?
            var reference: [Float] { last_logits_with_hf_config ?? last_logits }
        }
        struct Greedy: Decodable {
            let prompt_ids: [Int]
            let output_ids: [Int]
            let output_ids_with_hf_config: [Int]?
            var reference: [Int] { output_ids_with_hf_config ?? output_ids }
        }
        let hf_model_dir: String
        let tokenizer: [ExpectedOutputs.TokenizerCase]?
        let chat: [ExpectedOutputs.ChatCase]?
        let logits: [Logits]
        let greedy: [Greedy]
    }

    static let directory = Fixtures.root.appendingPathComponent("gguf/models")
    static let names = ["llama-metaspace-oldkeys", "llama-metaspace-oldkeys.Q8_0", "qwen2-bias-tied-f32", "mistral-sp-f16-zst",
                        "llama3-sharded-bf16"]

    static func file(_ name: String) -> URL { directory.appendingPathComponent("\(name).gguf") }

    static func expected(_ name: String) throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: directory.appendingPathComponent("\(name).expected.json")))
    }

    func testLastLogitsMatchTransformersGGUFLoading() throws {
        for name in Self.names {
            let languageModel = try LanguageModel.load(path: Self.file(name), precision: .float32)
            for reference in try Self.expected(name).logits {
                let logits = try languageModel.model.forward(reference.prompt_ids, cache: languageModel.model.makeCache())
                assertClose(logits, reference.reference, "\(name), prompt of \(reference.prompt_ids.count) tokens")
            }
        }
    }

    func testGreedyContinuationsMatchTransformersGGUFLoading() throws {
        for name in Self.names {
            let languageModel = try LanguageModel.load(path: Self.file(name), precision: .float32)
            for reference in try Self.expected(name).greedy {
                let result = try TextGenerator(languageModel).generate(
                    promptIds: reference.prompt_ids, options: GenerationOptions(maxTokens: reference.reference.count, ignoreEOS: true))
                XCTAssertEqual(result.outputIds, reference.reference, name)
            }
        }
    }

    /// A lossless GGUF is the same model as its Hugging Face directory: same fingerprint (so PEFT adapters and cached
    /// teleports fit both), same tensors after un-permuting q/k, same logits.
    func testLosslessGGUFEqualsItsHuggingFaceDirectory() throws {
        for name in Self.names where !name.hasSuffix("Q8_0") {
            let gguf = try LanguageModel.load(path: Self.file(name), precision: .float32)
            let huggingFace = try LanguageModel.load(directory: Fixtures.model(name))
            // llama.cpp writes Mistral models as `llama` (no sliding window in the file), so that file loads as a
            // Llama and its fingerprint names another architecture.
            if gguf.model.architecture == huggingFace.model.architecture {
                XCTAssertEqual(gguf.fingerprint, huggingFace.fingerprint, name)
            } else {
                XCTAssertEqual([gguf.model.architecture, huggingFace.model.architecture], [.llama, .mistral], name)
            }
            XCTAssertEqual(gguf.config.hiddenSize, huggingFace.config.hiddenSize, name)
            XCTAssertEqual(gguf.model.rope.theta, huggingFace.model.rope.theta, name)
            for (ours, theirs) in zip(gguf.model.layers, huggingFace.model.layers) {
                for (a, b) in zip(ours.linears, theirs.linears) {
                    XCTAssertEqual(a.name, b.name)
                    XCTAssertEqual(a.withCurrentWeight { Array($0) }, b.withCurrentWeight { Array($0) }, "\(name): \(a.name)")
                    XCTAssertEqual(a.bias?.array, b.bias?.array, "\(name): \(a.name) bias")
                }
            }
            for reference in try Fixtures.expected(name).logits {
                let logits = try gguf.model.forward(reference.prompt_ids, cache: gguf.model.makeCache())
                assertClose(logits, reference.last_logits, "\(name) vs the Hugging Face model, \(reference.prompt_ids.count) tokens")
            }
        }
    }

    func testTokenizerIdsMatchTransformersGGUFTokenizer() throws {
        for name in Self.names {
            guard let records = try Self.expected(name).tokenizer else { continue }
            let tokenizer = try LanguageModel.load(path: Self.file(name), precision: .float32).tokenizer
            for reference in records {
                let text = "\(name): \(reference.text.debugDescription)"
                // transformers adds GPT-2's default `<|endoftext|>` to a vocabulary without it, as id 1008 of a model
                // with 1008 embeddings (an id the model cannot embed); the runtime keeps the file's vocabulary.
                if name == "llama3-sharded-bf16", reference.ids.contains(1008) { continue }
                XCTAssertEqual(tokenizer.encode(reference.text), reference.ids, text)
                XCTAssertEqual(tokenizer.encode(reference.text, addSpecialTokens: false), reference.ids_no_special, text)
                XCTAssertEqual(tokenizer.decode(reference.ids_no_special), reference.decoded, text)
                XCTAssertEqual(tokenizer.decode(reference.ids, skipSpecialTokens: true), reference.decoded_skip_special, text)
            }
        }
    }

    func testChatIdsMatchTransformersGGUFTokenizer() throws {
        for name in Self.names {
            guard let records = try Self.expected(name).chat else { continue }
            let formatter = try ChatFormatter.load(path: Self.file(name))
            for reference in records {
                let messages = reference.messages.map { ChatMessage(role: $0.role, content: $0.content) }
                XCTAssertEqual(try formatter.renderChat(messages, addGenerationPrompt: reference.add_generation_prompt), reference.rendered, name)
                XCTAssertEqual(try formatter.encodeChat(messages, addGenerationPrompt: reference.add_generation_prompt), reference.ids, name)
            }
        }
    }

    func testQ8_0FileReadsItsQuantizedTypes() throws {
        let model = try LanguageModel.load(path: Self.file("llama-metaspace-oldkeys.Q8_0"))
        XCTAssertEqual(Set(model.parameterCountByStorageType.keys), ["Q8_0", "F16", "F32"])
        let gguf = try XCTUnwrap(model.gguf)
        XCTAssertEqual(gguf.tensor("blk.0.attn_q.weight")?.type, .q8_0)
        XCTAssertEqual(gguf.tensor("blk.0.ffn_down.weight")?.type, .f16)
        // Q8_0 matrices stay in their blocks (F16 ones become float32), and compute what the float32 load does up to
        // the 8-bit rounding of the decoding kernels' inputs.
        let storage = model.model.matrixStorage.parametersByType
        XCTAssertEqual(Set(storage.keys), ["Q8_0", "F32"])
        let dense = try LanguageModel.load(path: Self.file("llama-metaspace-oldkeys.Q8_0"), precision: .float32)
        XCTAssertEqual(dense.model.matrixStorage.parametersByType.keys.sorted(), ["F32"])
        // More rows than the integer kernels take (QuantizedBlocks.mostKernelRows).
        let prompt = (0..<(QuantizedBlocks.mostKernelRows + 4)).map { 3 + $0 % 11 }
        let cache = model.model.makeCache(), denseCache = dense.model.makeCache()
        // The prompt's rows (lm_head included) go through dequantized tiles: float32 up to rounding.
        assertClose(try model.model.forward(prompt, cache: cache, allPositions: true),
                    try dense.model.forward(prompt, cache: denseCache, allPositions: true), "Q8_0 prefill against float32",
                    tolerance: 1e-4)
        let step = try model.model.forward([4], cache: cache), denseStep = try dense.model.forward([4], cache: denseCache)
        let largest = zip(step, denseStep).map { abs($0 - $1) }.max()!
        let spread = denseStep.max()! - denseStep.min()!
        print("Q8_0 decoding step: largest logit change \(largest) on logits spread over \(spread)")
        XCTAssertGreaterThan(largest, 0, "a decoding step runs the integer kernels")
        XCTAssertLessThan(largest, 0.05 * spread, "Q8_0 decoding step against float32")
        XCTAssertNotEqual(try model.weightsDigest(), try dense.weightsDigest(), "the teleport cache tells them apart")
    }
}
