import Foundation

/// Shows that a model is loading: a spinner with elapsed seconds on a terminal, one plain line otherwise.
final class LoadingIndicator: @unchecked Sendable {
    private let message: String
    private let output = TerminalOutput.standardError
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private let lock = NSLock()
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(_ message: String) {
        self.message = message
        if isTerminal {
            let thread = Thread { [self] in spin() }
            thread.start()
        } else {
            output.write(message + "…\n")
        }
    }

    /// Stops the spinner and clears its line.
    func finish() {
        guard lock.withLock({ () -> Bool in
            defer { running = false }
            return running
        }) else { return }
        if isTerminal {
            done.wait()
            output.write("\r\u{1B}[K")
        }
    }

    private func spin() {
        let frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
        let start = Date()
        var frame = 0
        while lock.withLock({ running }) {
            output.write("\r\(frames[frame % frames.count]) \(message) " + String(format: "%.1fs", Date().timeIntervalSince(start)))
            frame += 1
            Thread.sleep(forTimeInterval: 0.1)
        }
        done.signal()
    }
}
