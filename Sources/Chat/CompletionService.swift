import Foundation
import Runtime

/// A flag one side sets and the other polls: a client that went away, or the server stopping.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    var isSet: Bool { lock.withLock { stopped } }
    func set() { lock.withLock { stopped = true } }
}

/// What a streamed request produces, in order: text pieces, then one outcome or failure.
enum CompletionEvent: Sendable {
    case text(String)
    case finished(CompletionOutcome)
    case failed(String)
}

/// The server's model side: requests are prepared on the caller's task, then wait their turn in the generation
/// queue and stream their text back through an AsyncStream. Knows nothing of HTTP.
final class CompletionService: Sendable {
    let runner: CompletionRunner
    let adapters: AdapterRegistry
    let queue: GenerationQueue
    /// Set when the server shuts down: running answers stop at the next token.
    let stopping = StopFlag()
    let metrics: ServerMetrics

    init(runner: CompletionRunner, adapters: AdapterRegistry, maxWaiting: Int, metrics: ServerMetrics = ServerMetrics()) {
        self.runner = runner
        self.adapters = adapters
        self.metrics = metrics
        queue = GenerationQueue(maxWaiting: maxWaiting)
    }

    var guardController: GuardController { runner.guardController }

    /// Queues a prepared request; throws `GenerationQueue.Rejection` when the queue is full. Ending the stream's
    /// iteration early (the client left) stops the generation at its next token, or skips it if still waiting.
    func start(_ prepared: PreparedCompletion) throws -> AsyncStream<CompletionEvent> {
        let (stream, continuation) = AsyncStream<CompletionEvent>.makeStream()
        let clientGone = StopFlag()
        continuation.onTermination = { _ in clientGone.set() }
        let runner = runner, stopping = stopping, metrics = metrics
        try queue.submit { cancelled in
            defer { continuation.finish() }
            if cancelled || stopping.isSet {
                continuation.yield(.failed("the server is shutting down"))
                return
            }
            if clientGone.isSet { return }
            let turn = Date()
            var firstText: Double?
            do {
                let outcome = try runner.run(prepared, shouldStop: { clientGone.isSet || stopping.isSet }) { text in
                    if firstText == nil { firstText = Date().timeIntervalSince(turn) }
                    continuation.yield(.text(text))
                }
                metrics.recordOutcome(outcome, firstTokenAfter: firstText)
                continuation.yield(.finished(outcome))
            } catch {
                continuation.yield(.failed("\(error)"))
            }
        }
        return stream
    }

    /// Stops running answers and refuses queued ones (graceful shutdown).
    func shutdown() {
        stopping.set()
        queue.shutdown()
    }
}

/// The server's `CompletionService` once the model and guard are loaded (nil before): the server listens from the
/// start so that /health can say it is loading.
final class LoadedService: @unchecked Sendable {
    private let lock = NSLock()
    private var current: CompletionService?
    /// When loading began.
    let since = Date()

    var service: CompletionService? { lock.withLock { current } }

    func set(_ service: CompletionService) { lock.withLock { current = service } }
}
