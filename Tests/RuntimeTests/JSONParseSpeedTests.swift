import Foundation
import XCTest
@testable import Runtime

/// Prints how long the two big JSON reads take: a 3,000-tensor safetensors header and a tokenizer.json
/// with a 128k vocabulary. Asserts nothing; run in release (`swift test -c release -Xswiftc -enable-testing`)
/// before and after a change to the parser.
final class JSONParseSpeedTests: XCTestCase {
    func testReportHeaderAndTokenizerParseSpeed() throws {
        let header = SyntheticJSON.safetensorsFile(tensorCount: 3_000)
        let headerTime = try Self.bestTime(repeats: 20) {
            try header.withUnsafeBytes { _ = try SafetensorsHeader(bytes: $0, file: "synthetic.safetensors") }
        }
        let tokenizer = SyntheticJSON.tokenizerJSON(vocabularySize: 128_000)
        let tokenizerTime = try Self.bestTime(repeats: 5) {
            _ = try Tokenizer(data: tokenizer, fileName: "synthetic/tokenizer.json")
        }
        let headerJSON = header.subdata(in: 8..<(header.count - SyntheticJSON.dataSize(tensorCount: 3_000)))
        let headerParseTime = try Self.bestTime(repeats: 20) { try Self.parseHeader(headerJSON) }
        let tokenizerParseTime = try Self.bestTime(repeats: 5) { try Self.parseTokenizer(tokenizer) }
        print(String(format: "safetensors header, 3000 tensors (%d KB): parse best %.2f ms, SafetensorsHeader best %.2f ms",
                     headerJSON.count / 1024, headerParseTime * 1000, headerTime * 1000))
        print(String(format: "tokenizer.json, 128000-token vocab (%d KB): parse best %.1f ms, Tokenizer best %.1f ms",
                     tokenizer.count / 1024, tokenizerParseTime * 1000, tokenizerTime * 1000))
        if let path = ProcessInfo.processInfo.environment["TELEGUARD_TOKENIZER_JSON"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let parseTime = try Self.bestTime(repeats: 5) { try Self.parseTokenizer(data) }
            let time = try Self.bestTime(repeats: 5) { _ = try Tokenizer(data: data, fileName: path) }
            print(String(format: "%@ (%d KB): parse best %.1f ms, Tokenizer best %.1f ms",
                         path, data.count / 1024, parseTime * 1000, time * 1000))
        }
    }

    private static func parseHeader(_ data: Data) throws {
        _ = try JSON.parse(data, maximumDepth: SafetensorsHeader.maximumJSONDepth, duplicateKeys: .reject)
    }

    private static func parseTokenizer(_ data: Data) throws {
        _ = try JSON.parse(data, maximumDepth: Tokenizer.maximumJSONDepth, duplicateKeys: .keep)
    }

    /// The fastest of `repeats` runs: the least disturbed by other work on the machine.
    private static func bestTime(repeats: Int, _ body: () throws -> Void) throws -> TimeInterval {
        var best = TimeInterval.infinity
        for _ in 0..<repeats {
            let start = Date()
            try body()
            best = min(best, Date().timeIntervalSince(start))
        }
        return best
    }
}

/// Deterministic inputs shaped like real files, built in memory so that no large fixture is committed.
enum SyntheticJSON {
    private static let tensorBytes = 8_192

    static func dataSize(tensorCount: Int) -> Int { tensorCount * tensorBytes }

    /// A safetensors file whose header reads like a Llama checkpoint's (compact, as the Python writer
    /// emits it); every tensor is 8 KB of BF16 zeros so that the file stays small.
    static func safetensorsFile(tensorCount: Int) -> Data {
        let parts = ["input_layernorm.weight", "mlp.down_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                     "post_attention_layernorm.weight", "self_attn.k_proj.weight", "self_attn.o_proj.weight",
                     "self_attn.q_proj.weight", "self_attn.v_proj.weight"]
        var header = #"{"__metadata__":{"format":"pt"}"#
        for index in 0..<tensorCount {
            let name = "model.layers.\(index / parts.count).\(parts[index % parts.count])"
            let shape = name.hasSuffix("layernorm.weight") ? "[4096]" : "[1,4096]"
            let begin = index * tensorBytes
            header += #","\#(name)":{"dtype":"BF16","shape":\#(shape),"data_offsets":[\#(begin),\#(begin + tensorBytes)]}"#
        }
        header += "}"
        return RawSafetensors.bytes(header: header, data: [UInt8](repeating: 0, count: dataSize(tensorCount: tensorCount)))
    }

    /// A byte-level BPE tokenizer.json laid out as `tokenizers` saves it (pretty-printed, merges as
    /// pairs): the 256 byte tokens, then tokens each made by one merge of two earlier tokens.
    static func tokenizerJSON(vocabularySize: Int) -> Data {
        var tokens = ByteLevelAlphabet.scalarForByte.map { String(Character($0)) }
        var known = Set(tokens.map { Array($0.utf8) })
        var merges: [(String, String)] = []
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        while tokens.count < vocabularySize {
            let left = tokens[next(tokens.count)]
            let right = tokens[next(min(tokens.count, 4_096))]
            let merged = left + right
            guard merged.unicodeScalars.count <= 12, known.insert(Array(merged.utf8)).inserted else { continue }
            tokens.append(merged)
            merges.append((left, right))
        }
        func quoted(_ token: String) -> String {
            "\"" + token.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        var text = """
            {
              "version": "1.0",
              "truncation": null,
              "padding": null,
              "added_tokens": [],
              "normalizer": null,
              "pre_tokenizer": {
                "type": "ByteLevel",
                "add_prefix_space": false,
                "trim_offsets": true,
                "use_regex": true
              },
              "post_processor": null,
              "decoder": {
                "type": "ByteLevel",
                "add_prefix_space": true,
                "trim_offsets": true,
                "use_regex": true
              },
              "model": {
                "type": "BPE",
                "dropout": null,
                "unk_token": null,
                "continuing_subword_prefix": null,
                "end_of_word_suffix": null,
                "fuse_unk": false,
                "byte_fallback": false,
                "ignore_merges": true,
                "vocab": {

            """
        text += tokens.enumerated().map { "      \(quoted($1)): \($0)" }.joined(separator: ",\n")
        text += "\n    },\n    \"merges\": [\n"
        text += merges.map { "      [\n        \(quoted($0.0)),\n        \(quoted($0.1))\n      ]" }.joined(separator: ",\n")
        text += "\n    ]\n  }\n}"
        return Data(text.utf8)
    }
}
