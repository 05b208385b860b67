import Foundation

/// The benign probe prompts the teleporter feeds a model (`probes.json`: a JSON list of strings).
public struct ProbeSet: Sendable, Equatable {
    public let file: String
    public let prompts: [String]

    public init(file: String, prompts: [String]) {
        self.file = file
        self.prompts = prompts
    }

    public static func load(from url: URL) throws -> ProbeSet {
        guard FileManager.default.fileExists(atPath: url.path) else { throw TeleLoRAError.missing(file: url.path) }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: try Data(contentsOf: url)) } catch {
            throw TeleLoRAError.unreadable(file: url.path, detail: "not valid JSON")
        }
        guard let prompts = parsed as? [String] else {
            throw TeleLoRAError.malformed(file: url.path, field: "(file)", detail: "expected a JSON list of prompt strings")
        }
        guard !prompts.isEmpty else { throw TeleLoRAError.malformed(file: url.path, field: "(file)", detail: "holds no probe prompts") }
        return ProbeSet(file: url.path, prompts: prompts)
    }
}
