import Foundation

/// Requests take turns on the one model, first come first served, on a dedicated thread (never on the server's event
/// loops). A job runs alone; batch members with the same key run together (`batchRunner`), and a member waiting at the
/// head of the queue joins the running batch between two of its steps. At most `maxWaiting` entries wait; more are
/// refused at once with a retry estimate, so a client is never left hanging.
final class GenerationQueue: @unchecked Sendable {
    /// Runs on the queue's thread; `cancelled` is true when the queue shut down before the job's turn.
    typealias Job = @Sendable (_ cancelled: Bool) -> Void

    /// A request that may be decoded beside others with the same `key`.
    struct BatchMember: @unchecked Sendable {
        let key: String
        let payload: AnyObject
        /// Called instead of running it when the queue shuts down first.
        let cancel: @Sendable () -> Void
    }

    /// Runs a batch on the queue's thread, from its first member until none is left; `admit` hands over the next
    /// member when one with the same key waits at the head of the queue (nil otherwise). Returns how many members ran.
    typealias BatchRunner = (_ first: BatchMember, _ admit: () -> BatchMember?) -> Int

    private enum Entry {
        case job(Job)
        case member(BatchMember)
    }

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
    private var waiting: [Entry] = []
    private var waitingStart = 0
    private var running = false
    private var closed = false
    /// Moving average of job durations, for Retry-After.
    private var averageSeconds = 1.0

    private let batchRunner: BatchRunner?

    init(maxWaiting: Int, batchRunner: BatchRunner? = nil) {
        self.maxWaiting = maxWaiting
        self.batchRunner = batchRunner
        let thread = Thread { [self] in work() }
        thread.name = "generation"
        thread.start()
    }

    var waitingCount: Int { condition.withLock { waiting.count - waitingStart } }
    var isBusy: Bool { condition.withLock { running || waiting.count > waitingStart } }

    /// Queues `job`, or refuses it when `maxWaiting` entries already wait behind a running one.
    func submit(_ job: @escaping Job) throws { try enqueue(.job(job)) }

    /// Queues a batch member (needs a `batchRunner`), or refuses it as `submit` does.
    func submit(member: BatchMember) throws {
        precondition(batchRunner != nil, "GenerationQueue: batch members need a batch runner")
        try enqueue(.member(member))
    }

    private func enqueue(_ entry: Entry) throws {
        try condition.withLock {
            guard !closed else { throw Rejection.shuttingDown }
            let queued = waiting.count - waitingStart
            if (running || queued > 0) && queued >= maxWaiting {
                throw Rejection.full(waiting: queued, retryAfterSeconds: max(1, Int((Double(queued + 1) * averageSeconds).rounded(.up))))
            }
            waiting.append(entry)
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
        let cancelled: [Entry] = condition.withLock {
            closed = true
            let rest = Array(waiting[waitingStart...])
            waiting = []
            waitingStart = 0
            condition.broadcast()
            return rest
        }
        for entry in cancelled {
            switch entry {
            case .job(let job): job(true)
            case .member(let member): member.cancel()
            }
        }
    }

    /// The entry at the head of the queue, taken off it when `take` accepts it. Call with the lock held.
    private func popHead(if take: (Entry) -> Bool = { _ in true }) -> Entry? {
        guard waiting.count > waitingStart, take(waiting[waitingStart]) else { return nil }
        let next = waiting[waitingStart]
        waitingStart += 1
        // Drop the consumed prefix now and then rather than shifting on every pop.
        if waitingStart > 64 && waitingStart * 2 > waiting.count {
            waiting.removeFirst(waitingStart)
            waitingStart = 0
        }
        return next
    }

    private func work() {
        while true {
            let entry: Entry? = condition.withLock {
                while waiting.count == waitingStart && !closed { condition.wait() }
                let next = popHead()
                if next != nil { running = true }
                return next
            }
            guard let entry else { return }
            let start = Date()
            var ran = 1
            switch entry {
            case .job(let job): job(false)
            case .member(let first):
                ran = max(1, batchRunner?(first) { [self] in
                    condition.withLock {
                        guard !closed, case .member(let member)? = popHead(if: { entry in
                            if case .member(let candidate) = entry { return candidate.key == first.key }
                            return false
                        }) else { return nil }
                        return member
                    }
                } ?? 1)
            }
            let seconds = Date().timeIntervalSince(start) / Double(ran)
            condition.withLock {
                running = false
                averageSeconds = 0.8 * averageSeconds + 0.2 * seconds
            }
        }
    }
}
