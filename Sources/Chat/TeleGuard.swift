import ArgumentParser
import Runtime

@main
struct TeleGuard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teleguard",
        abstract: "Run Hugging Face Llama-family models on the CPU, guarded against Trojan triggers.",
        discussion: "Models are Hugging Face directories (config.json, tokenizer.json, *.safetensors[.zst]). Without --model the shipped demo model is used.",
        version: "0.1.0",
        subcommands: [ChatCommand.self, GenerateCommand.self, BatchCommand.self, ServeCommand.self, TeleportCommand.self,
                      VerifyCommand.self, TokenizeCommand.self, InspectCommand.self, BenchCommand.self, LogitsCommand.self,
                      QuantizeCommand.self])

    static func main() async {
        // Before anything runs: OpenBLAS may have picked SSE3 kernels for a CPU newer than itself (BLASKernelSet).
        BLASKernelSet.relaunchIfBetterKernelsExist()
        await main(nil)
    }
}
