import Foundation

/// The REPL's input history, kept in a file one entry a line (newlines inside an entry are escaped as `\n`).
struct LineHistory {
    let file: URL?
    private(set) var entries: [String] = []
    let limit: Int

    /// `${XDG_STATE_HOME:-~/.local/state}/teleguard/history`.
    static func defaultFile(environment: [String: String]) -> URL? {
        if let state = environment["XDG_STATE_HOME"], !state.isEmpty {
            return URL(fileURLWithPath: state).appendingPathComponent("teleguard/history")
        }
        guard let home = environment["HOME"], !home.isEmpty else { return nil }
        return URL(fileURLWithPath: home).appendingPathComponent(".local/state/teleguard/history")
    }

    /// Loads the file when it exists; an unreadable history is not worth refusing to chat over.
    init(file: URL?, limit: Int = 1000) {
        self.file = file
        self.limit = limit
        if let file, let data = FileManager.default.contents(atPath: file.path) {
            entries = String(decoding: data, as: UTF8.self).split(separator: "\n").map { Self.unescape(String($0)) }
            entries = Array(entries.suffix(limit))
        }
    }

    /// Adds an entry (not blank, not a repeat of the last one) and appends it to the file.
    mutating func add(_ line: String) {
        guard !line.trimmingCharacters(in: .whitespaces).isEmpty, entries.last != line else { return }
        entries.append(line)
        if entries.count > limit { entries.removeFirst(entries.count - limit) }
        guard let file else { return }
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let record = Data((Self.escape(line) + "\n").utf8)
        if let handle = try? FileHandle(forWritingTo: file) {
            handle.seekToEndOfFile()
            handle.write(record)
            try? handle.close()
        } else {
            try? record.write(to: file)
        }
    }

    private static func escape(_ line: String) -> String {
        line.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    private static func unescape(_ line: String) -> String {
        var result = ""
        var escaping = false
        for character in line {
            if escaping {
                result.append(character == "n" ? "\n" : character)
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                result.append(character)
            }
        }
        return result
    }
}
