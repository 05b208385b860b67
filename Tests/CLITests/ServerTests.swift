import Foundation
import XCTest

/// `teleguard serve` on a free loopback port, driven by curl: OpenAI's response and stream formats, the error
/// statuses (400, 413, 503) and concurrent clients. Every server is stopped at the end of its test.
final class ServerTests: XCTestCase {
    let model = CommandRunner.fixtures.appendingPathComponent("models/llama3-sharded-bf16")
    let prompt = "The license grants permission to copy."

    /// The greedy answer `generate` (checked against transformers elsewhere) gives for one user turn.
    func referenceText(maxTokens: Int, raw: Bool = false, extra: [String] = []) throws -> String {
        let result = try CommandRunner.run(["generate", "--guard", "off", "--model", model.path, "--json", "--max-tokens", String(maxTokens),
                                            "--prompt", prompt] + (raw ? ["--raw"] : []) + extra)
        XCTAssertEqual(result.status, 0, result.stderr)
        return try XCTUnwrap((try CommandRunner.json(result.stdout) as? [String: Any])?["text"] as? String)
    }

    func chatBody(maxTokens: Int, stream: Bool = false, extra: String = "") -> String {
        // The prompt has no character JSON would escape.
        return #"{"model": "x", "messages": [{"role": "user", "content": "\#(prompt)"}], "max_tokens": \#(maxTokens), "temperature": 0, "stream": \#(stream)\#(extra)}"#
    }

    /// `data: ` payloads of a server-sent-event body, in order.
    func events(_ body: String) -> [String] {
        body.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { block in
            XCTAssertTrue(block.hasPrefix("data: "), "not an SSE data block: \(block)")
            return String(block.dropFirst("data: ".count))
        }
    }

    func testChatCompletionMatchesGenerateAndStreamsInOpenAIFormat() throws {
        let server = try ServerProcess(["--model", model.path])
        defer { XCTAssertEqual(server.stop(), 0) }
        let expected = try referenceText(maxTokens: 12)

        let reply = try HTTP.request("POST", server.baseURL + "/v1/chat/completions", body: chatBody(maxTokens: 12))
        XCTAssertEqual(reply.status, 200, reply.body)
        XCTAssertEqual(reply.headers["content-type"], "application/json")
        let object = try reply.json()
        XCTAssertEqual(object["object"] as? String, "chat.completion")
        XCTAssertTrue((object["id"] as? String)?.hasPrefix("chatcmpl-") == true)
        XCTAssertEqual(object["model"] as? String, "llama3-sharded-bf16")
        let choice = try XCTUnwrap((object["choices"] as? [[String: Any]])?.first)
        let message = try XCTUnwrap(choice["message"] as? [String: Any])
        XCTAssertEqual(message["role"] as? String, "assistant")
        XCTAssertEqual(message["content"] as? String, expected)
        XCTAssertNotNil(choice["finish_reason"] as? String)
        let usage = try XCTUnwrap(object["usage"] as? [String: Int])
        XCTAssertEqual(usage["total_tokens"], (usage["prompt_tokens"] ?? 0) + (usage["completion_tokens"] ?? 0))

        let streamed = try HTTP.request("POST", server.baseURL + "/v1/chat/completions",
                                        body: chatBody(maxTokens: 12, stream: true, extra: #", "stream_options": {"include_usage": true}"#))
        XCTAssertEqual(streamed.status, 200)
        XCTAssertEqual(streamed.headers["content-type"], "text/event-stream")
        let payloads = events(streamed.body)
        XCTAssertEqual(payloads.last, "[DONE]")
        let chunks = try payloads.dropLast().map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        XCTAssertEqual(Set(chunks.compactMap { $0["id"] as? String }).count, 1, "one id for the whole stream")
        let choices = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first }
        XCTAssertEqual((choices.first?["delta"] as? [String: Any])?["role"] as? String, "assistant")
        let text = choices.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined()
        XCTAssertEqual(text, expected)
        let finishReasons = choices.map { $0["finish_reason"] is NSNull ? nil : $0["finish_reason"] as? String }
        XCTAssertEqual(finishReasons.compactMap { $0 }.count, 1, "only the last choice chunk has a finish_reason")
        XCTAssertNotNil(finishReasons.last ?? nil)
        let usageChunk = try XCTUnwrap(chunks.last)
        XCTAssertEqual((usageChunk["choices"] as? [Any])?.count, 0)
        XCTAssertEqual((usageChunk["usage"] as? [String: Int])?["completion_tokens"], usage["completion_tokens"])
    }

    func testTextCompletionsModelsAndHealth() throws {
        let server = try ServerProcess(["--model", model.path])
        defer { server.stop() }
        let body = #"{"prompt": "The license grants permission to copy.", "max_tokens": 10, "temperature": 0}"#
        let reply = try HTTP.request("POST", server.baseURL + "/v1/completions", body: body)
        XCTAssertEqual(reply.status, 200, reply.body)
        let object = try reply.json()
        XCTAssertEqual(object["object"] as? String, "text_completion")
        let choice = try XCTUnwrap((object["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(choice["text"] as? String, try referenceText(maxTokens: 10, raw: true))

        let streamed = try HTTP.request("POST", server.baseURL + "/v1/completions",
                                        body: #"{"prompt": "The license", "max_tokens": 5, "stream": true}"#)
        let payloads = events(streamed.body)
        XCTAssertEqual(payloads.last, "[DONE]")
        XCTAssertTrue(payloads.dropLast().allSatisfy { $0.contains(#""object":"text_completion""#) })

        let models = try HTTP.request("GET", server.baseURL + "/v1/models").json()
        XCTAssertEqual(models["object"] as? String, "list")
        XCTAssertEqual((models["data"] as? [[String: Any]])?.first?["id"] as? String, "llama3-sharded-bf16")

        let health = try HTTP.request("GET", server.baseURL + "/health")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(try health.json()["status"] as? String, "ok")
    }

    /// GET /metrics: Prometheus text whose counters follow what was served (requests by route and status, tokens in
    /// and out, finish reasons, time to first token) and whose gauges say the server is ready and idle.
    func testMetricsCountRequestsTokensAndFinishReasonsInPrometheusFormat() throws {
        let server = try ServerProcess(["--model", model.path])
        defer { server.stop() }
        let reply = try HTTP.request("POST", server.baseURL + "/v1/chat/completions", body: chatBody(maxTokens: 6))
        XCTAssertEqual(reply.status, 200, reply.body)
        let usage = try XCTUnwrap(try reply.json()["usage"] as? [String: Any])
        XCTAssertEqual(try HTTP.request("POST", server.baseURL + "/v1/chat/completions", body: "{").status, 400)
        XCTAssertEqual(try HTTP.request("GET", server.baseURL + "/nowhere").status, 404)

        let scraped = try HTTP.request("GET", server.baseURL + "/metrics")
        XCTAssertEqual(scraped.status, 200)
        XCTAssertTrue(scraped.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true, "\(scraped.headers)")
        var samples: [String: Double] = [:]
        for line in scraped.body.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            XCTAssertEqual(parts.count, 2, String(line))
            samples[String(parts[0])] = Double(parts[1])
        }
        XCTAssertEqual(samples[#"teleguard_requests_total{route="/v1/chat/completions",status="200"}"#], 1)
        XCTAssertEqual(samples[#"teleguard_requests_total{route="/v1/chat/completions",status="400"}"#], 1)
        XCTAssertEqual(samples[#"teleguard_requests_total{route="other",status="404"}"#], 1, "unknown paths share one label")
        XCTAssertEqual(samples["teleguard_prompt_tokens_total"], (usage["prompt_tokens"] as? NSNumber)?.doubleValue)
        XCTAssertEqual(samples["teleguard_completion_tokens_total"], (usage["completion_tokens"] as? NSNumber)?.doubleValue)
        XCTAssertEqual(samples[#"teleguard_completions_total{finish_reason="length"}"#], 1)
        XCTAssertEqual(samples["teleguard_time_to_first_token_seconds_count"], 1)
        XCTAssertGreaterThan(samples["teleguard_decode_seconds_total"] ?? 0, 0)
        XCTAssertEqual(samples["teleguard_ready"], 1)
        XCTAssertEqual(samples["teleguard_queue_waiting"], 0)
        XCTAssertEqual(samples["teleguard_guard_refused_completions_total"], 0)
    }

    /// The server listens before the model is loaded: /health answers 503 "loading" (completions 503 with
    /// Retry-After, /metrics ready 0) until the model and its teleported guard are ready, then 200. SmolLM2 with a
    /// fresh teleport cache takes seconds to get there.
    func testHealthAnswers503LoadingUntilTheModelAndGuardAreReady() throws {
        let environment = ProcessInfo.processInfo.environment
        let models = environment["TELEGUARD_MODELS"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.cache") + "/teleguard/models"
        let smol = models + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        XCTAssertTrue(FileManager.default.fileExists(atPath: smol), "run bash scripts/install-model.sh (the test command does)")
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("teleguard-serve-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: cache) }
        let server = try ServerProcess(["--model", smol, "--guard", "teleport"], waitUntilReady: false,
                                       environment: ["XDG_CACHE_HOME": cache.path])
        defer { server.stop() }
        let loading = try HTTP.request("GET", server.baseURL + "/health")
        XCTAssertEqual(loading.status, 503, loading.body)
        XCTAssertEqual(try loading.json()["status"] as? String, "loading")
        let early = try HTTP.request("POST", server.baseURL + "/v1/chat/completions", body: chatBody(maxTokens: 2))
        XCTAssertEqual(early.status, 503, early.body)
        XCTAssertEqual(early.headers["retry-after"], "1")
        XCTAssertEqual((try early.json()["error"] as? [String: Any])?["code"] as? String, "loading")
        XCTAssertTrue(try HTTP.request("GET", server.baseURL + "/metrics").body.contains("teleguard_ready 0"))
        let deadline = Date().addingTimeInterval(120)
        var health = loading
        while health.status == 503 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.25)
            health = try HTTP.request("GET", server.baseURL + "/health")
        }
        XCTAssertEqual(health.status, 200, health.body)
        XCTAssertEqual(try health.json()["status"] as? String, "ok")
        XCTAssertEqual(try HTTP.request("POST", server.baseURL + "/v1/chat/completions", body: chatBody(maxTokens: 2)).status, 200)
    }

    func testAModelThatFailsToLoadEndsTheServerWithItsError() throws {
        let result = try CommandRunner.run(["serve", "--port", "0", "--guard", "off", "--model", "/nonexistent/model.gguf"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("/nonexistent/model.gguf"), result.stderr)
    }

    /// Concurrent requests are decoded together (one pass reads a token of every answer: the metrics' mean batch is
    /// above one) and each still gets the answer `generate` gives alone; with --max-batch 1 they take turns.
    func testConcurrentRequestsAreDecodedTogetherWithTheSameAnswers() throws {
        // Long answers, so that the four requests overlap however fast the fixture model decodes (24 tokens each
        // finished almost before the next request arrived once the numeric code was optimized).
        let answerTokens = 160
        let expected = try referenceText(maxTokens: answerTokens)
        for maxBatch in [4, 1] {
            let server = try ServerProcess(["--model", model.path, "--max-batch", String(maxBatch)])
            defer { server.stop() }
            let clients = try (0..<4).map { index in
                try HTTP.Pending("POST", server.baseURL + "/v1/chat/completions",
                                 body: chatBody(maxTokens: answerTokens, stream: index % 2 == 0))
            }
            for (index, client) in clients.enumerated() {
                let reply = try client.finish()
                XCTAssertEqual(reply.status, 200, reply.body)
                if index % 2 == 0 {
                    let text = events(reply.body).dropLast().compactMap { payload -> String? in
                        let chunk = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any]
                        return ((chunk?["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
                    }.joined()
                    XCTAssertEqual(text, expected, "max-batch \(maxBatch), client \(index)")
                } else {
                    let message = (try reply.json()["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any]
                    XCTAssertEqual(message?["content"] as? String, expected, "max-batch \(maxBatch), client \(index)")
                }
            }
            let metrics = try HTTP.request("GET", server.baseURL + "/metrics").body
            func sample(_ name: String) -> Double? {
                metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
            }
            let steps = try XCTUnwrap(sample("teleguard_decode_steps_total")), rows = try XCTUnwrap(sample("teleguard_decode_batch_answers_total"))
            if maxBatch == 1 {
                XCTAssertEqual(rows, steps, "one answer per pass")
            } else {
                XCTAssertGreaterThan(rows / steps, 1.2, "answers shared passes (\(rows) answers over \(steps) passes)")
                print("max-batch \(maxBatch): \(rows) answers over \(steps) passes")
            }
        }
    }

    func testBadRequestsGetOpenAIErrorsNamingTheProblem() throws {
        let server = try ServerProcess(["--model", model.path, "--max-body-bytes", "2000", "--max-prompt-tokens", "40"])
        defer { server.stop() }
        let url = server.baseURL + "/v1/chat/completions"

        let malformed = try HTTP.request("POST", url, body: #"{"messages": [ "#)
        XCTAssertEqual(malformed.status, 400)
        let malformedError = try XCTUnwrap(try malformed.json()["error"] as? [String: Any])
        XCTAssertTrue((malformedError["message"] as? String)?.contains("malformed JSON") == true, malformed.body)
        XCTAssertEqual(malformedError["type"] as? String, "invalid_request_error")

        let missing = try HTTP.request("POST", url, body: #"{"max_tokens": 4}"#)
        XCTAssertEqual(missing.status, 400)
        XCTAssertEqual((try missing.json()["error"] as? [String: Any])?["param"] as? String, "messages")

        let wrongType = try HTTP.request("POST", url, body: #"{"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}"#)
        XCTAssertEqual(wrongType.status, 400)
        XCTAssertEqual((try wrongType.json()["error"] as? [String: Any])?["param"] as? String, "temperature")

        let large = try HTTP.request("POST", url, body: #"{"messages": [{"role": "user", "content": ""# + String(repeating: "a", count: 3000) + #""}]}"#)
        XCTAssertEqual(large.status, 413)
        XCTAssertTrue(((try large.json()["error"] as? [String: Any])?["message"] as? String)?.contains("2000") == true, large.body)

        let long = try HTTP.request("POST", url, body: #"{"messages": [{"role": "user", "content": ""# + String(repeating: "copy ", count: 60) + #""}]}"#)
        XCTAssertEqual(long.status, 400)
        let longError = try XCTUnwrap(try long.json()["error"] as? [String: Any])
        XCTAssertEqual(longError["param"] as? String, "messages")
        XCTAssertTrue((longError["message"] as? String)?.contains("the limit is 40") == true, long.body)

        let noGuard = try HTTP.request("POST", url, body: #"{"messages": [{"role": "user", "content": "hi"}], "guard": "on"}"#)
        XCTAssertEqual(noGuard.status, 400)
        XCTAssertEqual((try noGuard.json()["error"] as? [String: Any])?["param"] as? String, "guard")
    }

    func testFullQueueAnswers503WithRetryAfterAndConcurrentClientsAreAllAnswered() throws {
        // No waiting room: while one long answer runs, the others are refused at once.
        let strict = try ServerProcess(["--model", model.path, "--max-queue", "0"])
        let long = chatBody(maxTokens: 250, extra: #", "ignore_eos": true"#)
        // A tiny model answers in milliseconds, so on a busy machine one burst may not overlap: try a few bursts.
        var replies: [HTTP.Reply] = []
        for _ in 0..<5 where !replies.contains(where: { $0.status == 503 }) {
            let burst = try (0..<6).map { _ in try HTTP.Pending("POST", strict.baseURL + "/v1/chat/completions", body: long) }
            replies = try burst.map { try $0.finish() }
        }
        XCTAssertEqual(strict.stop(), 0)
        let refused = replies.filter { $0.status == 503 }
        XCTAssertFalse(refused.isEmpty, "statuses: \(replies.map(\.status))")
        XCTAssertTrue(replies.allSatisfy { $0.status == 200 || $0.status == 503 }, "statuses: \(replies.map(\.status))")
        XCTAssertTrue(replies.contains { $0.status == 200 })
        for reply in refused {
            XCTAssertNotNil(Int(reply.headers["retry-after"] ?? ""), reply.body)
            XCTAssertEqual((try reply.json()["error"] as? [String: Any])?["code"] as? String, "queue_full")
        }

        // With room to wait, every concurrent client gets its own full answer, in turn.
        let roomy = try ServerProcess(["--model", model.path, "--max-queue", "8"])
        defer { roomy.stop() }
        let expected = try referenceText(maxTokens: 8)
        let clients = try (0..<5).map { index in
            try HTTP.Pending("POST", roomy.baseURL + "/v1/chat/completions", body: chatBody(maxTokens: 8, stream: index % 2 == 1))
        }
        for (index, client) in clients.enumerated() {
            let reply = try client.finish()
            XCTAssertEqual(reply.status, 200)
            if index % 2 == 1 {
                let text = events(reply.body).dropLast().compactMap { payload -> String? in
                    let chunk = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any]
                    return ((chunk?["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
                }.joined()
                XCTAssertEqual(text, expected)
            } else {
                let message = (try reply.json()["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any]
                XCTAssertEqual(message?["content"] as? String, expected)
            }
        }
    }

    func testAdaptersCanBeListedAndScaled() throws {
        let adapter = model.appendingPathComponent("lora")
        let server = try ServerProcess(["--model", model.path, "--lora", adapter.path + ":0.5"])
        defer { server.stop() }
        let listed = try HTTP.request("GET", server.baseURL + "/adapters").json()
        let first = try XCTUnwrap((listed["adapters"] as? [[String: Any]])?.first)
        XCTAssertEqual(first["id"] as? Int, 1)
        XCTAssertEqual(first["scale"] as? Double, 0.5)

        let changed = try HTTP.request("POST", server.baseURL + "/adapters", body: #"[{"id": 1, "scale": 0}]"#)
        XCTAssertEqual(changed.status, 200, changed.body)
        XCTAssertEqual(((try changed.json()["adapters"] as? [[String: Any]])?.first?["scale"] as? Double), 0)
        // At scale 0 the adapter changes nothing: the answer is the base model's.
        let reply = try HTTP.request("POST", server.baseURL + "/v1/chat/completions", body: chatBody(maxTokens: 8))
        XCTAssertEqual(((try reply.json()["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String,
                       try referenceText(maxTokens: 8))

        let unknown = try HTTP.request("POST", server.baseURL + "/adapters", body: #"{"adapters": [{"id": 7, "enabled": false}]}"#)
        XCTAssertEqual(unknown.status, 400)
        XCTAssertTrue(unknown.body.contains("no adapter 7"), unknown.body)
    }
}

extension ServerTests {
    func chatText(_ server: ServerProcess, maxTokens: Int) throws -> String? {
        let reply = try HTTP.request("POST", server.baseURL + "/v1/chat/completions", body: chatBody(maxTokens: maxTokens))
        XCTAssertEqual(reply.status, 200, reply.body)
        return ((try reply.json()["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
    }

    func adapterList(_ server: ServerProcess) throws -> [[String: Any]] {
        try XCTUnwrap(try HTTP.request("GET", server.baseURL + "/adapters").json()["adapters"] as? [[String: Any]])
    }

    /// POST /adapters loads a PEFT directory by path (the answers become `generate --lora`'s) and unloads it by
    /// name (the base model's answers again).
    func testAdapterDirectoryIsLoadedByPathAndUnloadedByName() throws {
        let adapter = model.appendingPathComponent("lora").resolvingSymlinksInPath()
        let server = try ServerProcess(["--model", model.path, "--adapter-dir", model.path])
        defer { server.stop() }
        XCTAssertTrue(try adapterList(server).isEmpty)

        let loaded = try HTTP.request("POST", server.baseURL + "/adapters", body: #"{"load": [{"path": "lora", "scale": 0.5}]}"#)
        XCTAssertEqual(loaded.status, 200, loaded.body)
        let slot = try XCTUnwrap((try loaded.json()["adapters"] as? [[String: Any]])?.first)
        XCTAssertEqual(slot["id"] as? Int, 1)
        XCTAssertEqual(slot["name"] as? String, "lora")
        XCTAssertEqual(slot["path"] as? String, adapter.path)
        XCTAssertEqual(slot["scale"] as? Double, 0.5)
        let patched = try referenceText(maxTokens: 8, extra: ["--lora", adapter.path + ":0.5"])
        XCTAssertNotEqual(patched, try referenceText(maxTokens: 8), "the fixture adapter changes the answer")
        XCTAssertEqual(try chatText(server, maxTokens: 8), patched)

        let duplicate = try HTTP.request("POST", server.baseURL + "/adapters", body: #"{"load": [{"path": "\#(adapter.path)"}]}"#)
        // An absolute path inside the adapter directory is the same adapter.
        XCTAssertEqual(duplicate.status, 400, duplicate.body)
        XCTAssertTrue(duplicate.body.contains("already loaded"), duplicate.body)

        let unloaded = try HTTP.request("POST", server.baseURL + "/adapters", body: #"{"unload": ["lora"]}"#)
        XCTAssertEqual(unloaded.status, 200, unloaded.body)
        XCTAssertTrue(try adapterList(server).isEmpty)
        XCTAssertEqual(try chatText(server, maxTokens: 8), try referenceText(maxTokens: 8))

        let unknown = try HTTP.request("POST", server.baseURL + "/adapters", body: #"{"unload": ["lora"]}"#)
        XCTAssertEqual(unknown.status, 400, unknown.body)
        XCTAssertTrue(unknown.body.contains("no adapter named 'lora'"), unknown.body)
        XCTAssertEqual((try unknown.json()["error"] as? [String: Any])?["param"] as? String, "unload[0]")
    }

    /// A missing directory and another model's adapter are refused with 400 naming the path or the tensor, and a
    /// refused request changes nothing (the adapter loaded beside it in the same request is rolled back).
    func testAdapterLoadIsRefusedForMissingDirectoriesAndOtherModels() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("teleguard-adapters-\(UUID().uuidString)")
            .resolvingSymlinksInPath()
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.copyItem(at: model.appendingPathComponent("lora"), to: root.appendingPathComponent("own"))
        try FileManager.default.copyItem(at: CommandRunner.fixtures.appendingPathComponent("models/llama-metaspace-oldkeys/lora"),
                                         to: root.appendingPathComponent("other"))
        let server = try ServerProcess(["--model", model.path, "--adapter-dir", root.path])
        defer { server.stop() }
        let missing = root.appendingPathComponent("missing").path
        let absent = try HTTP.request("POST", server.baseURL + "/adapters", body: #"{"load": [{"path": "missing"}]}"#)
        XCTAssertEqual(absent.status, 400, absent.body)
        let absentError = try XCTUnwrap(try absent.json()["error"] as? [String: Any])
        XCTAssertEqual(absentError["param"] as? String, "load[0]")
        XCTAssertTrue((absentError["message"] as? String)?.contains(missing + ": no such adapter directory") == true, absent.body)

        // llama-metaspace-oldkeys' adapter: other MLP and key/value widths than llama3-sharded-bf16.
        let other = root.appendingPathComponent("other").path
        let own = "own"
        let wrong = try HTTP.request("POST", server.baseURL + "/adapters",
                                     body: #"{"load": [{"path": "\#(own)"}, {"path": "\#(other)", "name": "other"}]}"#)
        XCTAssertEqual(wrong.status, 400, wrong.body)
        let error = try XCTUnwrap(try wrong.json()["error"] as? [String: Any])
        XCTAssertEqual(error["param"] as? String, "load[1]")
        let message = try XCTUnwrap(error["message"] as? String)
        XCTAssertTrue(message.contains(other) && message.contains("model.layers.0."), message)
        XCTAssertTrue(try adapterList(server).isEmpty, "a refused request leaves no adapter applied")
        XCTAssertEqual(try chatText(server, maxTokens: 8), try referenceText(maxTokens: 8))

        // The model's own adapter, but recording another base model's fingerprint: refused by the recorded field.
        let foreign = root.appendingPathComponent("foreign")
        try FileManager.default.copyItem(at: model.appendingPathComponent("lora"), to: foreign)
        let configFile = foreign.appendingPathComponent("adapter_config.json")
        var config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: configFile)) as? [String: Any])
        config["base_model_fingerprint"] = String(repeating: "0", count: 64)
        try JSONSerialization.data(withJSONObject: config).write(to: configFile)
        let mismatch = try HTTP.request("POST", server.baseURL + "/adapters", body: #"{"load": [{"path": "\#(foreign.path)"}]}"#)
        XCTAssertEqual(mismatch.status, 400, mismatch.body)
        let mismatchMessage = try XCTUnwrap((try mismatch.json()["error"] as? [String: Any])?["message"] as? String)
        XCTAssertTrue(mismatchMessage.contains("base_model_fingerprint") && mismatchMessage.contains(configFile.path), mismatchMessage)
        XCTAssertTrue(try adapterList(server).isEmpty)

        let malformed = try HTTP.request("POST", server.baseURL + "/adapters", body: #"{"load": [{"scale": 1}]}"#)
        XCTAssertEqual(malformed.status, 400, malformed.body)
        XCTAssertEqual((try malformed.json()["error"] as? [String: Any])?["param"] as? String, "load[0].path")

        // Paths that leave the adapter directory: by "..", absolute, or through a link inside it.
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("link"),
                                                   withDestinationURL: model.appendingPathComponent("lora"))
        for path in ["../\(root.lastPathComponent)-elsewhere", "own/../../x", model.appendingPathComponent("lora").path, "link"] {
            let escape = try HTTP.request("POST", server.baseURL + "/adapters", body: #"{"load": [{"path": "\#(path)"}]}"#)
            XCTAssertEqual(escape.status, 400, escape.body)
            let escapeError = try XCTUnwrap(try escape.json()["error"] as? [String: Any])
            XCTAssertEqual(escapeError["param"] as? String, "load[0].path", path)
            XCTAssertTrue((escapeError["message"] as? String)?.contains("outside the adapter directory") == true, escape.body)
        }
        XCTAssertTrue(try adapterList(server).isEmpty)
    }

    /// Without --adapter-dir nothing is loaded over HTTP (adapters given at start can still be scaled).
    func testLoadingAdaptersByPathNeedsAnAdapterDirectory() throws {
        let server = try ServerProcess(["--model", model.path])
        defer { server.stop() }
        let refused = try HTTP.request("POST", server.baseURL + "/adapters", body: #"{"load": [{"path": "\#(model.appendingPathComponent("lora").path)"}]}"#)
        XCTAssertEqual(refused.status, 400, refused.body)
        XCTAssertTrue(refused.body.contains("--adapter-dir"), refused.body)
        XCTAssertTrue(try adapterList(server).isEmpty)
        let bad = try CommandRunner.run(["serve", "--port", "0", "--guard", "off", "--model", model.path, "--adapter-dir", "/nonexistent/adapters"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("/nonexistent/adapters: no such directory"), bad.stderr)
    }
}

extension ServerTests {
    /// SIGTERM with an answer streaming and another waiting: both clients get a complete reply and the server exits.
    func testGracefulShutdownEndsInFlightRequests() throws {
        let server = try ServerProcess(["--model", model.path])
        let long = chatBody(maxTokens: 250, stream: true, extra: #", "ignore_eos": true"#)
        let running = try HTTP.Pending("POST", server.baseURL + "/v1/chat/completions", body: long)
        let waiting = try HTTP.Pending("POST", server.baseURL + "/v1/chat/completions", body: long)
        Thread.sleep(forTimeInterval: 0.5)  // both requests connected, even on a busy machine
        // Exit status 0 once both answers are complete; -1 means it was still running after 60 s and was killed.
        // (No tighter bound: the two 250-token answers take from under a second to several on a loaded machine.)
        XCTAssertEqual(server.stop(timeout: 60), 0)
        for reply in [try running.finish(), try waiting.finish()] {
            XCTAssertEqual(reply.status, 200)
            XCTAssertTrue(reply.body.hasSuffix("data: [DONE]\n\n"), reply.body)
        }
    }
}
