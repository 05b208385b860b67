import Foundation

/// Writes straight to a file descriptor, unbuffered, so streamed tokens appear as they come.
struct TerminalOutput {
    let fileDescriptor: Int32

    static let standardOutput = TerminalOutput(fileDescriptor: STDOUT_FILENO)
    static let standardError = TerminalOutput(fileDescriptor: STDERR_FILENO)

    func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Foundation.write(fileDescriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(written)
        }
    }
}
