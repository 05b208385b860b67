import Foundation
import Hummingbird
import Runtime

/// The HTTP routes of `teleguard serve`: OpenAI's chat and text completions (with server-sent-event streaming),
/// the model list, health, and adapter / guard control. Every failure answers with OpenAI's error object.
struct OpenAIServer: Sendable {
    /// The model side, once the model and guard are loaded: the server listens before that, and answers every route
    /// but /health and /metrics with 503 `loading` until then.
    let loaded: LoadedService
    let metrics: ServerMetrics
    let maxBodyBytes: Int
    /// Where `POST /adapters` may load adapters from (`--adapter-dir`); nil: not by path at all.
    var adapterRoot: AdapterRoot?
    /// Required on every route but /health when set (`--api-key`).
    var apiKey: String?
    let startedAt = Int(Date().timeIntervalSince1970)

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: MetricsMiddleware(metrics: metrics))
        if let apiKey { router.add(middleware: APIKeyMiddleware(key: apiKey)) }
        router.get("/health") { _, _ in health() }
        router.get("/metrics") { _, _ in metricsText() }
        router.post("/tokenize") { request, _ in await whenLoaded { await tokenize(request, $0) } }
        router.post("/detokenize") { request, _ in await whenLoaded { await detokenize(request, $0) } }
        router.get("/v1/models") { _, _ in
            await whenLoaded { service in
                jsonResponse(.ok, OpenAIWire.ModelList(data: [OpenAIWire.Model(id: service.runner.modelName, created: startedAt)]))
            }
        }
        router.post("/v1/chat/completions") { request, _ in await whenLoaded { await completion(request, chat: true, $0) } }
        router.post("/v1/completions") { request, _ in await whenLoaded { await completion(request, chat: false, $0) } }
        router.get("/adapters") { _, _ in await whenLoaded { adapterState($0) } }
        router.post("/adapters") { request, _ in await whenLoaded { await changeAdapters(request, $0) } }
        return router
    }

    /// `body` with the loaded service, or 503 `loading` with Retry-After while the model and guard still load.
    private func whenLoaded(_ body: (CompletionService) async -> Response) async -> Response {
        guard let service = loaded.service else {
            var response = errorResponse(.serviceUnavailable, "the model is still loading", type: "server_error", code: "loading")
            response.headers[.retryAfter] = "1"
            return response
        }
        return await body(service)
    }

    // MARK: Completions

    private func completion(_ request: Request, chat: Bool, _ service: CompletionService) async -> Response {
        let object: [String: Any]
        switch await readJSONObject(request) {
        case .failure(let failure): return failure.response
        case .success(let value): object = value
        }
        let prepared: PreparedCompletion
        do {
            prepared = try service.runner.prepare(try CompletionRequest.parse(object, accepts: chat ? .messages : .prompt))
        } catch let error as RequestFieldError {
            return errorResponse(.badRequest, error.description, param: error.field)
        } catch {
            return errorResponse(.badRequest, "\(error)")
        }
        let events: AsyncStream<CompletionEvent>
        do { events = try service.start(prepared) } catch let rejection as GenerationQueue.Rejection {
            var response = errorResponse(.serviceUnavailable, rejection.description, type: "server_error", code: "queue_full")
            if case .full(_, let seconds) = rejection { response.headers[.retryAfter] = String(seconds) }
            return response
        } catch {
            return errorResponse(.internalServerError, "\(error)", type: "server_error")
        }
        let id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
        let format = CompletionFormat(id: id, chat: chat, created: Int(Date().timeIntervalSince1970), model: service.runner.modelName)
        if prepared.request.stream {
            return streamingResponse(events, format: format, includeUsage: prepared.request.includeUsage)
        }
        var text = ""
        for await event in events {
            switch event {
            case .text(let piece): text += piece
            case .failed(let message): return errorResponse(.internalServerError, message, type: "server_error")
            case .finished(let outcome): return dataResponse(.ok, format.complete(text: text, outcome))
            }
        }
        return errorResponse(.internalServerError, "the generation ended without a result", type: "server_error")
    }

    /// Server-sent events as OpenAI sends them: `data: {chunk}` blocks, the last chunk carrying finish_reason, an
    /// optional usage chunk, then `data: [DONE]`. A failure mid-stream is sent as an error object before [DONE].
    private func streamingResponse(_ events: AsyncStream<CompletionEvent>, format: CompletionFormat, includeUsage: Bool) -> Response {
        let body = ResponseBody { writer in
            func send(_ data: Data) async throws {
                var buffer = ByteBuffer()
                buffer.writeString("data: ")
                buffer.writeBytes(data)
                buffer.writeString("\n\n")
                try await writer.write(buffer)
            }
            if format.chat { try await send(format.chunk(role: "assistant", text: "", finishReason: nil)) }
            for await event in events {
                switch event {
                case .text(let piece): try await send(format.chunk(role: nil, text: piece, finishReason: nil))
                case .failed(let message):
                    try await send(OpenAIWire.encode(OpenAIWire.ErrorResponse(message: message, type: "server_error")))
                case .finished(let outcome):
                    try await send(format.chunk(role: nil, text: nil, finishReason: outcome.openAIFinishReason, guardEnabled: outcome.guardEnabled,
                                                   replacedPositions: outcome.replacedPositions))
                    if includeUsage { try await send(format.usageChunk(outcome)) }
                }
            }
            var done = ByteBuffer()
            done.writeString("data: [DONE]\n\n")
            try await writer.write(done)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    // MARK: Health, adapters

    // MARK: Tokens

    /// llama.cpp server's shape: {"content": TEXT, "add_special": BOOL (default false)} → {"tokens": [ids]}.
    private func tokenize(_ request: Request, _ service: CompletionService) async -> Response {
        let object: [String: Any]
        switch await readJSONObject(request) {
        case .failure(let failure): return failure.response
        case .success(let value): object = value
        }
        guard let content = object["content"] as? String else {
            return errorResponse(.badRequest, "'content' must be a string", param: "content")
        }
        if let value = object["add_special"], !isJSONBoolean(value) {
            return errorResponse(.badRequest, "'add_special' must be true or false", param: "add_special")
        }
        let tokens = service.runner.languageModel.tokenizer.encode(content, addSpecialTokens: object["add_special"] as? Bool ?? false)
        return dictionaryResponse(.ok, ["tokens": tokens])
    }

    /// {"tokens": [ids]} → {"content": TEXT}; an id outside the vocabulary is a 400 naming it.
    private func detokenize(_ request: Request, _ service: CompletionService) async -> Response {
        let object: [String: Any]
        switch await readJSONObject(request) {
        case .failure(let failure): return failure.response
        case .success(let value): object = value
        }
        guard let values = object["tokens"] as? [Any] else { return errorResponse(.badRequest, "'tokens' must be a list of token ids", param: "tokens") }
        let vocabulary = service.runner.languageModel.model.vocabularySize
        var ids: [Int] = []
        for (index, value) in values.enumerated() {
            guard let number = value as? NSNumber, !isJSONBoolean(value), let id = Int(exactly: number.doubleValue), (0..<vocabulary).contains(id) else {
                return errorResponse(.badRequest, "tokens[\(index)] is \(value), not a token id in 0..<\(vocabulary)", param: "tokens")
            }
            ids.append(id)
        }
        return dictionaryResponse(.ok, ["content": service.runner.languageModel.tokenizer.decode(ids)])
    }

    /// 200 once loaded, 503 `{"status": "loading"}` before (load balancers and orchestrators wait on it).
    private func health() -> Response {
        guard let service = loaded.service else {
            return dictionaryResponse(.serviceUnavailable, ["status": "loading", "seconds": Date().timeIntervalSince(loaded.since)])
        }
        let modelName = service.runner.modelName
        let state: [String: Any] = [
            "status": service.stopping.isSet ? "stopping" : "ok", "model": modelName,
            "context_length": service.runner.languageModel.model.contextLength,
            "queue": ["waiting": service.queue.waitingCount, "busy": service.queue.isBusy,
                      "max_waiting": service.queue.maxWaiting] as [String: Any],
            "guard": service.guardController.stateJSON,
        ]
        return dictionaryResponse(.ok, state)
    }

    /// Prometheus' text format (scraped by Prometheus, VictoriaMetrics, Grafana Agent).
    private func metricsText() -> Response {
        let service = loaded.service
        var buffer = ByteBuffer()
        buffer.writeString(metrics.text(waiting: service?.queue.waitingCount ?? 0, busy: service?.queue.isBusy ?? false,
                                        ready: service != nil))
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: ResponseBody(byteBuffer: buffer))
    }

    private func adapterState(_ service: CompletionService) -> Response {
        dictionaryResponse(.ok, [
            "adapters": service.adapters.loaded.map { slot -> [String: Any] in
                ["id": slot.number, "name": slot.name, "path": slot.directory, "scale": Double(slot.scale), "enabled": slot.enabled]
            },
            "guard": service.guardController.stateJSON,
        ])
    }

    /// `{"load": [{"path", "scale"?, "name"?}], "unload": [NAME or ID], "adapters": [{"id", "scale"?, "enabled"?}],
    /// "guard": {"enabled"?, "scale"?}}`, or llama.cpp's bare list `[{"id", "scale"}]`. Changes wait their turn in the queue so no answer sees weights change mid-way.
    private func changeAdapters(_ request: Request, _ service: CompletionService) async -> Response {
        let body: Any
        switch await readJSON(request) {
        case .failure(let failure): return failure.response
        case .success(let value): body = value
        }
        let changes: AdapterChanges
        do { changes = try AdapterChanges(body) } catch let error as RequestFieldError {
            return errorResponse(.badRequest, error.description, param: error.field)
        } catch {
            return errorResponse(.badRequest, "\(error)")
        }
        let adapters = service.adapters, guardController = service.guardController, root = adapterRoot
        do {
            try await service.queue.run { try changes.apply(adapters: adapters, guardController: guardController, root: root) }
        } catch let error as RequestFieldError {
            return errorResponse(.badRequest, error.description, param: error.field)
        } catch let rejection as GenerationQueue.Rejection {
            var response = errorResponse(.serviceUnavailable, rejection.description, type: "server_error", code: "queue_full")
            if case .full(_, let seconds) = rejection { response.headers[.retryAfter] = String(seconds) }
            return response
        } catch {
            return errorResponse(.badRequest, "\(error)")
        }
        return adapterState(service)
    }

    // MARK: Bodies and responses

    /// The body as JSON, refusing bodies over `maxBodyBytes` (413) and malformed JSON (400) with OpenAI errors.
    private func readJSON(_ request: Request) async -> Result<Any, ErrorResponseValue> {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            return .failure(ErrorResponseValue(tooLarge(length)))
        }
        var data = Data()
        do {
            for try await chunk in request.body {
                guard data.count + chunk.readableBytes <= maxBodyBytes else {
                    return .failure(ErrorResponseValue(tooLarge(nil)))
                }
                data.append(contentsOf: chunk.readableBytesView)
            }
        } catch {
            return .failure(ErrorResponseValue(errorResponse(.badRequest, "could not read the request body: \(error)")))
        }
        guard !data.isEmpty else { return .failure(ErrorResponseValue(errorResponse(.badRequest, "the request body is empty; send a JSON object"))) }
        do {
            return .success(try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
        } catch {
            return .failure(ErrorResponseValue(errorResponse(.badRequest, "malformed JSON in the request body: \(Self.describe(error))",
                                                             code: "invalid_json")))
        }
    }

    private func readJSONObject(_ request: Request) async -> Result<[String: Any], ErrorResponseValue> {
        switch await readJSON(request) {
        case .failure(let response): return .failure(response)
        case .success(let value):
            guard let object = value as? [String: Any] else {
                return .failure(ErrorResponseValue(errorResponse(.badRequest, "the request body must be a JSON object", code: "invalid_json")))
            }
            return .success(object)
        }
    }

    private func tooLarge(_ length: Int?) -> Response {
        errorResponse(.contentTooLarge, "the request body" + (length.map { " has \($0) bytes; it" } ?? "")
                      + " exceeds the limit of \(maxBodyBytes) bytes (--max-body-bytes)", code: "request_too_large")
    }

    private static func describe(_ error: Error) -> String {
        let nsError = error as NSError
        return (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? nsError.localizedDescription
    }
}

/// A Response carried through `Result` (which needs an Error).
struct ErrorResponseValue: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}

func jsonResponse<T: Encodable>(_ status: HTTPResponse.Status, _ value: T) -> Response {
    dataResponse(status, OpenAIWire.encode(value))
}

func dictionaryResponse(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    return dataResponse(status, data)
}

func dataResponse(_ status: HTTPResponse.Status, _ data: Data) -> Response {
    var buffer = ByteBuffer()
    buffer.writeBytes(data)
    buffer.writeString("\n")
    return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: buffer))
}

func errorResponse(_ status: HTTPResponse.Status, _ message: String, type: String = "invalid_request_error",
                   param: String? = nil, code: String? = nil) -> Response {
    jsonResponse(status, OpenAIWire.ErrorResponse(message: message, type: type, param: param, code: code))
}
