import Foundation
import XCTest

/// A `teleguard serve` child on a free loopback port, stopped with SIGTERM (then SIGKILL after a bound).
final class ServerProcess {
    let process = Process()
    private(set) var baseURL = ""
    private let output = Pipe()
    private let lock = NSLock()
    private var printed = ""
    private var signalled = false

    /// Starts the server and waits for its port; with `waitUntilReady` also until it has loaded the model.
    init(_ arguments: [String], startupTimeout: TimeInterval = 60, waitUntilReady: Bool = true,
         environment: [String: String] = [:]) throws {
        process.executableURL = CommandRunner.binary
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        // Without --guard the shipped generator would be needed; tests name the guard they want.
        process.arguments = ["serve", "--port", "0"] + (arguments.contains("--guard") ? [] : ["--guard", "off"]) + arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let started = DispatchSemaphore(value: 0)
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            guard let self else { return }
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; started.signal(); return }
            let found: Bool = self.lock.withLock {
                self.printed += String(decoding: data, as: UTF8.self)
                if self.baseURL.isEmpty, let range = self.printed.range(of: "http://127.0.0.1:") {
                    let digits = self.printed[range.upperBound...].prefix { $0.isNumber }
                    if !digits.isEmpty, self.printed[range.upperBound...].dropFirst(digits.count).first != nil {
                        self.baseURL = "http://127.0.0.1:" + digits
                    }
                }
                guard !self.signalled, !self.baseURL.isEmpty, !waitUntilReady || self.printed.contains("teleguard ready") else { return false }
                self.signalled = true
                return true
            }
            if found { started.signal() }
        }
        try process.run()
        let timedOut = started.wait(timeout: .now() + startupTimeout) == .timedOut
        let ready = lock.withLock { printed.contains("teleguard ready") }
        if timedOut || baseURL.isEmpty || (waitUntilReady && !ready) {
            stop()
            throw TestFailure("teleguard serve did not report its port\(waitUntilReady ? " and readiness" : ""); output: \(lock.withLock { printed })")
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `timeout`; returns the exit status.
    @discardableResult
    func stop(timeout: TimeInterval = 10) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        process.terminate()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return -1
        }
        return process.terminationStatus
    }

    deinit { stop() }
}

/// HTTP through curl: status, lower-cased headers and body.
enum HTTP {
    struct Reply {
        let status: Int
        let headers: [String: String]
        let body: String

        func json() throws -> [String: Any] {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any], body)
        }
    }

    static func curl(_ method: String, _ url: String, body: String? = nil, headers: [String] = []) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        var arguments = ["-s", "-S", "-i", "-N", "--max-time", "120", "-X", method, url]
        for header in headers { arguments += ["-H", header] }
        if body != nil { arguments += ["-H", "Content-Type: application/json", "--data-binary", "@-"] }
        process.arguments = arguments
        return process
    }

    /// Starts a request; `finish()` waits for its reply. Several can be in flight at once.
    final class Pending {
        let process: Process
        private let out = Pipe()
        private var data = Data()
        private let done = DispatchSemaphore(value: 0)

        init(_ method: String, _ url: String, body: String?, headers: [String] = []) throws {
            process = HTTP.curl(method, url, body: body, headers: headers)
            let input = Pipe()
            process.standardInput = input
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            if let body { input.fileHandleForWriting.write(Data(body.utf8)) }
            try input.fileHandleForWriting.close()
            let handle = out.fileHandleForReading
            DispatchQueue.global().async { [self] in
                data = handle.readDataToEndOfFile()
                done.signal()
            }
        }

        func finish() throws -> Reply {
            done.wait()
            process.waitUntilExit()
            return try HTTP.parse(data)
        }
    }

    static func request(_ method: String, _ url: String, body: String? = nil, headers: [String] = []) throws -> Reply {
        try Pending(method, url, body: body, headers: headers).finish()
    }

    /// Splits curl -i output: status line, headers, blank line, body (interim 100-continue blocks skipped).
    static func parse(_ data: Data) throws -> Reply {
        var text = String(decoding: data, as: UTF8.self)
        while true {
            guard let split = text.range(of: "\r\n\r\n") else { throw TestFailure("no HTTP reply: \(text)") }
            let head = String(text[..<split.lowerBound])
            let body = String(text[split.upperBound...])
            let lines = head.components(separatedBy: "\r\n")
            let status = Int(lines[0].split(separator: " ").dropFirst().first ?? "") ?? 0
            if status == 100 { text = body; continue }
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            return Reply(status: status, headers: headers, body: body)
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
