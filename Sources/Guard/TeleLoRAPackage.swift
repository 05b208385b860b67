import Foundation
import Runtime

/// The shipped `adapters/telelora/` directory as one unit: generator, probe prompts, and a hash of all three files
/// (what the teleport cache is keyed on, with the model's fingerprint).
public struct TeleLoRAPackage: Sendable {
    public let directory: URL
    public let generator: TeleLoRAGenerator
    public let probes: ProbeSet
    /// SHA-256 over spec.json, generator.safetensors and probes.json.
    public let contentHash: String

    public static func load(directory: URL) throws -> TeleLoRAPackage {
        let generator = try TeleLoRAGenerator.load(directory: directory)
        let probesURL = directory.appendingPathComponent(generator.spec.probeFile)
        let probes = try ProbeSet.load(from: probesURL)
        var hasher = SHA256()
        for url in [directory.appendingPathComponent(TeleLoRAGenerator.specFile),
                    directory.appendingPathComponent(TeleLoRAGenerator.weightsFile), probesURL] {
            do { hasher.update(try Data(contentsOf: url)) } catch {
                throw TeleLoRAError.unreadable(file: url.path, detail: error.localizedDescription)
            }
        }
        let hash = hasher.finalize()
        return TeleLoRAPackage(directory: directory, generator: generator, probes: probes, contentHash: hash)
    }

    /// `adapters/telelora` beside the working directory, or beside the installed binary (or up to four levels above
    /// it, which covers `.build/<config>/teleguard` in a checkout); nil when none holds a spec.json.
    public static func locateShipped(workingDirectory: URL, executable: URL) -> URL? {
        var candidates = [workingDirectory.appendingPathComponent("adapters/telelora")]
        var directory = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(directory.appendingPathComponent("adapters/telelora"))
            directory.deleteLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent(TeleLoRAGenerator.specFile).path) }
    }
}
