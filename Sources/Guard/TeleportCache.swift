import Foundation
import Runtime

/// Teleported adapters kept on disk in PEFT layout, one directory per (model weights digest, generator hash), so a
/// second start with the same model and generator loads instead of teleporting. The key is the weights' digest, not
/// the shape fingerprint: a teleported adapter is made from the model's own weights and activations, and two models
/// of one shape (a clean model and a Trojaned fine-tune of it) must not share one.
public struct TeleportCache: Sendable {
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    /// `${XDG_CACHE_HOME:-~/.cache}/teleguard/teleported`.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let base: URL
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            base = URL(fileURLWithPath: xdg)
        } else {
            base = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        }
        return base.appendingPathComponent("teleguard/teleported")
    }

    public func entry(weightsDigest: String, generatorHash: String) -> URL {
        directory.appendingPathComponent("\(weightsDigest.prefix(32))-\(generatorHash.prefix(32))")
    }

    /// The cached adapter, or nil when there is none or it is unreadable (then it is made again).
    public func load(weightsDigest: String, modelFingerprint: String, generatorHash: String) -> PEFTAdapter? {
        let url = entry(weightsDigest: weightsDigest, generatorHash: generatorHash)
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent(PEFTAdapter.configFile).path),
              let adapter = try? PEFTAdapter.load(from: url),
              adapter.config.baseModelFingerprint == modelFingerprint else { return nil }
        return adapter
    }

    /// Stores an adapter; written beside its final place and renamed, so a reader never sees half an entry.
    public func store(_ adapter: TeleportedAdapter, weightsDigest: String, baseModel: String?) throws -> URL {
        let target = entry(weightsDigest: weightsDigest, generatorHash: adapter.generatorHash)
        let staging = directory.appendingPathComponent(".staging-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try adapter.save(to: staging, baseModel: baseModel)
        try? FileManager.default.removeItem(at: target)
        do { try FileManager.default.moveItem(at: staging, to: target) } catch {
            try? FileManager.default.removeItem(at: staging)
            if !FileManager.default.fileExists(atPath: target.path) { throw error }
        }
        return target
    }
}
