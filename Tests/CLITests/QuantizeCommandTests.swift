import Foundation
import XCTest

/// `teleguard quantize`: writes a GGUF file the other commands run, and refuses bad input naming the option.
final class QuantizeCommandTests: XCTestCase {
    func testQuantizedFileRunsAndBadInputIsNamed() throws {
        let source = CommandRunner.fixtures.appendingPathComponent("gguf/models/qwen2-bias-tied-f32.gguf").path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("teleguard-quantize-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("model.Q8_0.gguf").path

        let made = try CommandRunner.run(["quantize", "--model", source, "--type", "q8_0", "--out", output])
        XCTAssertEqual(made.status, 0, made.stderr)
        XCTAssertTrue(made.stderr.contains("tensors re-encoded"), made.stderr)
        let generated = try CommandRunner.run(["generate", "--model", output, "--guard", "off", "--raw", "--max-tokens", "3",
                                               "--prompt", "Hello"])
        XCTAssertEqual(generated.status, 0, generated.stderr)

        let badType = try CommandRunner.run(["quantize", "--model", source, "--type", "q5_k", "--out", output])
        XCTAssertNotEqual(badType.status, 0)
        XCTAssertTrue(badType.stderr.contains("--type: 'q5_k' is not one of q8_0, q4_0"), badType.stderr)
        let notGGUF = try CommandRunner.run(["quantize", "--model", directory.path, "--type", "q8_0", "--out", output])
        XCTAssertTrue(notGGUF.stderr.contains("is not a GGUF file"), notGGUF.stderr)
        let sameFile = try CommandRunner.run(["quantize", "--model", output, "--type", "q4_0", "--out", output])
        XCTAssertTrue(sameFile.stderr.contains("--out: \(output) is the input file"), sameFile.stderr)
    }
}
