import ArgumentParser
import Foundation
import Guard
import Hummingbird
import Runtime
import ServiceLifecycle

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the model over an OpenAI-compatible HTTP API.",
        discussion: """
        POST /v1/chat/completions and /v1/completions (with "stream": true as server-sent events), GET /v1/models, \
        POST /tokenize ({"content", "add_special"} → {"tokens"}) and /detokenize ({"tokens"} → {"content"}), \
        GET /health (open even with --api-key; 503 {"status": "loading"} until the model and guard are loaded, while \
        every other route answers 503 with Retry-After), GET /metrics (Prometheus text: requests by route and status, \
        tokens, decode seconds, time to first token, queue, guard replacements and refusals), GET/POST /adapters (adapter scales and the guard; POST {"load": [{"path": DIR, "scale", "name"}]} \
        applies a PEFT adapter directory under --adapter-dir, refused with 400 if it was made for another model or the path leaves that directory; \
        {"unload": [NAME or ID]} removes one). Requests take turns on the model in arrival \
        order, up to --max-batch of them decoded together; beyond --max-queue waiting requests the server answers 503 \
        with Retry-After. SIGINT or SIGTERM stops \
        it: running answers end at their next token, waiting ones are refused. Request fields beyond OpenAI's: \
        "guard" ("on"/"off"), "top_k", "min_p", "repetition_penalty", "ignore_eos".
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(name: .long, help: "Port to listen on (0: any free port; the chosen one is printed).")
    var port = 8080

    @Option(name: .long, help: "Requests that may wait behind the running one before new ones get 503.")
    var maxQueue = 16

    @Option(name: .long, help: "Requests decoded together, one shared pass per token (1: one at a time). Requests asking for the same guard setting join a running batch between two tokens.")
    var maxBatch = 4

    @Option(name: .long, help: "Largest request body accepted, in bytes (413 beyond).")
    var maxBodyBytes = 1 << 20

    @Option(name: .long, help: "Longest prompt accepted, in tokens (400 beyond). Default: the model's context minus one.")
    var maxPromptTokens: Int?

    @Option(name: .long, help: "max_tokens for requests that do not set it.")
    var maxTokens = 256

    @OptionGroup var guardOptions: GuardOptions

    @Option(name: .long, help: "Apply a PEFT LoRA adapter, optionally scaled: DIR[:SCALE] (repeatable); /adapters lists them.")
    var lora: [LoRAArgument] = []

    @Option(name: .long, help: "Directory POST /adapters may load adapters from (paths relative to it; a path that leaves it by '..' or a link is refused with 400). Without it, adapters are not loaded over HTTP.")
    var adapterDir: String?

    @Option(name: .long, help: "Require this API key on every route but /health ('Authorization: Bearer KEY' or 'X-Api-Key: KEY'; 401 otherwise).")
    var apiKey: String?

    @Option(name: .long, help: "Read the API key from the first line of this file (keeps it out of the process list).")
    var apiKeyFile: String?

    /// --api-key, or the first line of --api-key-file; an empty key is refused.
    func resolvedAPIKey() throws -> String? {
        if apiKey != nil && apiKeyFile != nil { throw ValidationError("give --api-key or --api-key-file, not both") }
        var key = apiKey
        if let apiKeyFile {
            guard let text = try? String(contentsOfFile: apiKeyFile, encoding: .utf8) else {
                throw ValidationError("--api-key-file \(apiKeyFile): cannot be read as UTF-8 text")
            }
            key = text.split(separator: "\n", omittingEmptySubsequences: false).first.map { $0.trimmingCharacters(in: .whitespaces) }
        }
        if let key, key.isEmpty { throw ValidationError("the API key is empty" + (apiKeyFile.map { " (first line of \($0))" } ?? "")) }
        return key
    }

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535, found \(port)") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be ≥ 0, found \(maxQueue)") }
        guard maxBatch >= 1 else { throw ValidationError("--max-batch must be at least 1, found \(maxBatch)") }
        guard maxBodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive, found \(maxBodyBytes)") }
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be ≥ 0, found \(maxTokens)") }
        if let maxPromptTokens, maxPromptTokens < 1 { throw ValidationError("--max-prompt-tokens must be at least 1") }
        _ = try resolvedAPIKey()
    }

    func run() async throws {
        let policy = try guardOptions.policy()
        let apiKey = try resolvedAPIKey()
        let loaded = LoadedService(), metrics = ServerMetrics()
        let server = OpenAIServer(loaded: loaded, metrics: metrics, maxBodyBytes: maxBodyBytes,
                                  adapterRoot: try adapterDir.map { try AdapterRoot(URL(fileURLWithPath: $0)) }, apiKey: apiKey)
        let host = host
        // Listen first, then load: until the model and the guard are ready /health answers 503 "loading" and every
        // other route 503 with Retry-After. A model or guard that fails to load ends the server with its error.
        let app = Application(
            router: server.router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "teleguard"),
            services: [ModelLoadingService(command: self, policy: policy, loaded: loaded, metrics: metrics)],
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                TerminalOutput.standardOutput.write("teleguard listening on http://\(host):\(port) (loading the model)\n")
            })
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }

    /// The model, its guard and adapters, ready to serve (slow: a teleport probes the model).
    func makeService(policy: GuardPolicy, metrics: ServerMetrics) throws -> CompletionService {
        let (runner, adapters) = try CompletionRunner.load(modelOptions: modelOptions, guardOptions: guardOptions, policy: policy,
                                                           lora: lora, maxPromptTokens: maxPromptTokens, defaultMaxTokens: maxTokens)
        return CompletionService(runner: runner, adapters: adapters, maxWaiting: maxQueue, maxBatch: maxBatch, metrics: metrics)
    }
}

/// Loads the model beside the listening server, then publishes it; on graceful shutdown stops the running answer
/// and refuses waiting ones, so open connections finish promptly.
struct ModelLoadingService: Service {
    let command: ServeCommand
    let policy: GuardPolicy
    let loaded: LoadedService
    let metrics: ServerMetrics

    func run() async throws {
        let command = command, policy = policy, metrics = metrics
        let service: CompletionService
        do {
            service = try await Task.detached { try command.makeService(policy: policy, metrics: metrics) }.value
        } catch {
            FileHandle.standardError.write(Data("teleguard serve: could not load the model: \(error)\n".utf8))
            throw error
        }
        loaded.set(service)
        TerminalOutput.standardOutput.write("teleguard ready: serving \(service.runner.modelName)\n")
        try? await gracefulShutdown()
        service.shutdown()
    }
}
