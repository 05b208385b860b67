import Foundation

/// Requests take turns on the one model: jobs run one at a time, first come first served, on a dedicated thread
/// (never on the server's event loops). At most `maxWaiting` jobs wait behind the running one; more are refused at
/// once with a retry estimate, so a client is never left hanging.
final class GenerationQueue: @unchecked Sendable {
    /// Runs on the queue's thread; `cancelled` is true when the queue shut down before the job's turn.
    typealias Job = @Sendable (_ cancelled: Bool) -> Void

    enum Rejection: Error, CustomStringConvertible, Equatable {
        case full(waiting: Int, retryAfterSeconds: Int)
        case shuttingDown

        var description: String {
            switch self {
            case .full(let waiting, _):
                return "the server is busy: \(waiting) requests are already waiting (--max-queue); retry later"
            case .shuttingDown: return "the server is shutting down"
            }
        }
    }

    let maxWaiting: Int
    private let condition = NSCondition()
    private var waiting: [Job] = []
    private var waitingStart = 0
    private var running = false
    private var closed = false
    /// Moving average of job durations, for Retry-After.
    private var averageSeconds = 1.0

    init(maxWaiting: Int) {
        self.maxWaiting = maxWaiting
        let thread = Thread { [self] in work() }
        thread.name = "generation"
        thread.start()
    }

    var waitingCount: Int { condition.withLock { waiting.count - waitingStart } }
    var isBusy: Bool { condition.withLock { running || waiting.count > waitingStart } }

    /// Queues `job`, or refuses it when `maxWaiting` jobs already wait behind a running one.
    func submit(_ job: @escaping Job) throws {
        try condition.withLock {
            guard !closed else { throw Rejection.shuttingDown }
            let queued = waiting.count - waitingStart
            if (running || queued > 0) && queued >= maxWaiting {
                throw Rejection.full(waiting: queued, retryAfterSeconds: max(1, Int((Double(queued + 1) * averageSeconds).rounded(.up))))
            }
            waiting.append(job)
            condition.signal()
        }
    }

    /// Submits `body` and waits for its result without blocking a thread of the caller's.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            do {
                try submit { cancelled in
                    if cancelled { continuation.resume(throwing: Rejection.shuttingDown); return }
                    continuation.resume(with: Result { try body() })
                }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    /// Refuses new jobs and cancels the waiting ones; the running job finishes (its owner may stop it sooner).
    func shutdown() {
        let cancelled: [Job] = condition.withLock {
            closed = true
            let rest = Array(waiting[waitingStart...])
            waiting = []
            waitingStart = 0
            condition.broadcast()
            return rest
        }
        for job in cancelled { job(true) }
    }

    private func work() {
        while true {
            let job: Job? = condition.withLock {
                while waiting.count == waitingStart && !closed { condition.wait() }
                guard waiting.count > waitingStart else { return nil }
                let next = waiting[waitingStart]
                waitingStart += 1
                // Drop the consumed prefix now and then rather than shifting on every pop.
                if waitingStart > 64 && waitingStart * 2 > waiting.count {
                    waiting.removeFirst(waitingStart)
                    waitingStart = 0
                }
                running = true
                return next
            }
            guard let job else { return }
            let start = Date()
            job(false)
            let seconds = Date().timeIntervalSince(start)
            condition.withLock {
                running = false
                averageSeconds = 0.8 * averageSeconds + 0.2 * seconds
            }
        }
    }
}
