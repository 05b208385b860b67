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
/// queue and stream their text back through an AsyncStream. Requests that ask for the same guard setting are decoded
/// together, up to `maxBatch` at a time (one shared pass per token; a request arriving while others decode joins them
/// between two tokens). Knows nothing of HTTP.
final class CompletionService: Sendable {
    let runner: CompletionRunner
    let adapters: AdapterRegistry
    let queue: GenerationQueue
    /// Set when the server shuts down: running answers stop at the next token.
    let stopping = StopFlag()
    let metrics: ServerMetrics
    let maxBatch: Int

    init(runner: CompletionRunner, adapters: AdapterRegistry, maxWaiting: Int, maxBatch: Int = 1, metrics: ServerMetrics = ServerMetrics()) {
        self.runner = runner
        self.adapters = adapters
        self.metrics = metrics
        self.maxBatch = max(1, maxBatch)
        let stopping = stopping, limit = self.maxBatch
        queue = GenerationQueue(maxWaiting: maxWaiting) { first, admit in
            Self.runBatch(first: first, admit: admit, runner: runner, metrics: metrics, stopping: stopping, maxBatch: limit)
        }
    }

    var guardController: GuardController { runner.guardController }

    /// One request in the queue: what it asks and where its text goes.
    final class Pending: @unchecked Sendable {
        let prepared: PreparedCompletion
        let continuation: AsyncStream<CompletionEvent>.Continuation
        let clientGone = StopFlag()
        var turn = Date()
        var firstText: Double?

        init(prepared: PreparedCompletion, continuation: AsyncStream<CompletionEvent>.Continuation) {
            self.prepared = prepared
            self.continuation = continuation
        }
    }

    /// Queues a prepared request; throws `GenerationQueue.Rejection` when the queue is full. Ending the stream's
    /// iteration early (the client left) stops the generation at its next token, or skips it if still waiting.
    func start(_ prepared: PreparedCompletion) throws -> AsyncStream<CompletionEvent> {
        let (stream, continuation) = AsyncStream<CompletionEvent>.makeStream()
        let pending = Pending(prepared: prepared, continuation: continuation)
        continuation.onTermination = { _ in pending.clientGone.set() }
        let key = prepared.request.guardEnabled.map { $0 ? "guard on" : "guard off" } ?? "guard as set"
        try queue.submit(member: GenerationQueue.BatchMember(key: key, payload: pending, cancel: {
            continuation.yield(.failed("the server is shutting down"))
            continuation.finish()
        }))
        return stream
    }

    /// Decodes `first` and every member `admit` hands over, up to `maxBatch` at once, with the guard switched as they
    /// ask; returns how many ran.
    private static func runBatch(first: GenerationQueue.BatchMember, admit: () -> GenerationQueue.BatchMember?,
                                 runner: CompletionRunner, metrics: ServerMetrics, stopping: StopFlag, maxBatch: Int) -> Int {
        let head = first.payload as! Pending   // swiftlint:disable:this force_cast — the service queues only Pending
        var ran = 0
        do {
            try runner.guardController.with(enabled: head.prepared.request.guardEnabled) {
                let guardEnabled = runner.guardController.isEnabled
                var active: [(pending: Pending, session: GenerationSession)] = []
                func begin(_ pending: Pending) {
                    ran += 1
                    pending.turn = Date()
                    if stopping.isSet {
                        pending.continuation.yield(.failed("the server is shutting down"))
                        pending.continuation.finish()
                        return
                    }
                    if pending.clientGone.isSet { pending.continuation.finish(); return }
                    do {
                        let session = try runner.makeSession(pending.prepared, shouldStop: { pending.clientGone.isSet || stopping.isSet }) { text in
                            if pending.firstText == nil { pending.firstText = Date().timeIntervalSince(pending.turn) }
                            pending.continuation.yield(.text(text))
                        }
                        active.append((pending, session))
                    } catch {
                        pending.continuation.yield(.failed("\(error)"))
                        pending.continuation.finish()
                    }
                }
                begin(head)
                let batch = BatchGenerator(runner.languageModel)
                while !active.isEmpty {
                    while active.count < maxBatch, let next = admit() { begin(next.payload as! Pending) }  // swiftlint:disable:this force_cast
                    do {
                        let stepped = try batch.step(active.map(\.session))
                        if !stepped.isEmpty { metrics.recordStep(answers: stepped.count) }
                    } catch {
                        for item in active {
                            item.pending.continuation.yield(.failed("\(error)"))
                            item.pending.continuation.finish()
                        }
                        active = []
                        break
                    }
                    for item in active where item.session.isFinished {
                        let outcome = runner.outcome(item.session.finish(), guardEnabled: guardEnabled, since: item.pending.turn)
                        metrics.recordOutcome(outcome, firstTokenAfter: item.pending.firstText)
                        item.pending.continuation.yield(.finished(outcome))
                        item.pending.continuation.finish()
                    }
                    active.removeAll { $0.session.isFinished }
                }
            }
        } catch {
            // Switching the guard failed: the request gets the error.
            head.continuation.yield(.failed("\(error)"))
            head.continuation.finish()
        }
        return ran
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
