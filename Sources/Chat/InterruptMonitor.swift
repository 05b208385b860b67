import Dispatch
import Foundation

/// Ctrl-C while an answer streams: SIGINT is taken over by a dispatch source that sets a flag the generation
/// callback polls, so the answer stops and the REPL stays. Outside an answer SIGINT ends the program when input is
/// piped, and is ignored on a terminal, whose line editor reads Ctrl-C as a key (ISIG off).
final class InterruptMonitor: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    private var answering = false
    private let source: DispatchSourceSignal
    private let exitWhenIdle: Bool

    init(exitWhenIdle: Bool) {
        self.exitWhenIdle = exitWhenIdle
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [weak self] in self?.handleSignal() }
        source.resume()
    }

    deinit {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }

    /// Runs `body` with Ctrl-C meaning "stop this answer"; `shouldStop` tells the callback when it was pressed.
    func whileAnswering<T>(_ body: (_ shouldStop: @escaping () -> Bool) throws -> T) rethrows -> T {
        lock.withLock {
            requested = false
            answering = true
        }
        defer { lock.withLock { answering = false } }
        return try body { self.lock.withLock { self.requested } }
    }

    /// Whether the last answer was stopped by Ctrl-C.
    var wasInterrupted: Bool { lock.withLock { requested } }

    private func handleSignal() {
        let stopAnswer = lock.withLock { () -> Bool in
            if answering { requested = true }
            return answering
        }
        if !stopAnswer && exitWhenIdle { exit(130) }
    }
}
