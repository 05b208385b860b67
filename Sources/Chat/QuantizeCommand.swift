import ArgumentParser
import Foundation
import Runtime

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Write a GGUF model's matrices in Q8_0 or Q4_0 blocks to a new GGUF file.",
        discussion: "As llama.cpp's llama-quantize with --allow-requantize: every tensor of two or more dimensions whose "
            + "rows fill whole blocks is dequantized and quantized again (byte for byte as the gguf package's "
            + "gguf.quants.quantize); norms, biases, metadata and the tokenizer are copied. The file is written beside "
            + "--out and renamed into place, so a failure leaves nothing behind. Reads GGUF files only for now.")

    @Option(name: .long, help: "The GGUF file to read.")
    var model: String

    @Option(name: .long, help: "Block type to write: q8_0 or q4_0.")
    var type: String

    @Option(name: .long, help: "The GGUF file to write.")
    var out: String

    func run() throws {
        guard let target = GGUFQuantization.supportedTypes.first(where: { $0.description.lowercased() == type.lowercased() }) else {
            throw ValidationError("--type: '\(type)' is not one of "
                + GGUFQuantization.supportedTypes.map { $0.description.lowercased() }.joined(separator: ", "))
        }
        let input = URL(fileURLWithPath: model), output = URL(fileURLWithPath: out)
        guard ModelPath.isGGUF(input) else {
            throw ValidationError("--model: \(model) is not a GGUF file (quantize reads GGUF files only for now)")
        }
        guard input.standardizedFileURL.path != output.standardizedFileURL.path else {
            throw ValidationError("--out: \(out) is the input file; write to another path")
        }
        let start = Date()
        let file = try GGUFFile(url: input)
        let summary = try GGUFRequantizer.requantize(file, to: target, output: output)
        let seconds = Date().timeIntervalSince(start)
        FileHandle.standardError.write(Data(String(
            format: "quantize: %@ -> %@ (%@): %d tensors re-encoded, %d copied, %@ in %.1f s\n",
            input.lastPathComponent, output.path, target.description, summary.requantized, summary.copied,
            formatBytes(summary.bytes), seconds).utf8))
    }
}
