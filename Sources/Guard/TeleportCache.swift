import Foundation
import Runtime

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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

    /// The model's `weightsDigest()`, remembered per weight file identity (path, device, inode, size, modification
    /// and status-change times) so that a later start skips reading the weights again: hashing 400 MB takes longer
    /// than teleporting. Any rewrite of a file changes its status-change time, which no tool can set back.
    public func weightsDigest(of model: LanguageModel) throws -> String {
        // The files the digest is made of, and the scale of every merged adapter: any change there is a new model.
        let identities = (model.weightFiles + model.mergedAdapters.flatMap(\.files)).map { Self.identity(of: $0) }
        guard !identities.contains(nil) else { return try model.weightsDigest() }
        let scales = model.mergedAdapters.map { "merged scale=\($0.scale)" }
        let identityHash = SHA256.hex((identities.compactMap { $0 } + scales).joined(separator: "\n"))
        let memo = directory.appendingPathComponent(".digests/\(identityHash.prefix(32))")
        if let text = try? String(contentsOf: memo, encoding: .utf8) {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if lines.count == 2, lines[0] == identityHash, lines[1].count == 64 { return String(lines[1]) }
        }
        let digest = try model.weightsDigest()
        // Best effort: a cache directory that cannot be written only costs the next start a re-hash.
        try? FileManager.default.createDirectory(at: memo.deletingLastPathComponent(), withIntermediateDirectories: true)
        let staging = memo.deletingLastPathComponent().appendingPathComponent(".staging-\(UUID().uuidString)")
        if (try? "\(identityHash)\n\(digest)".write(to: staging, atomically: false, encoding: .utf8)) != nil {
            if rename(staging.path, memo.path) != 0 { try? FileManager.default.removeItem(at: staging) }
        }
        return digest
    }

    static func identity(of file: URL) -> String? {
        var info = stat()
        guard stat(file.path, &info) == 0 else { return nil }
        #if canImport(Darwin)
            let (modified, changed) = (info.st_mtimespec, info.st_ctimespec)
        #else
            let (modified, changed) = (info.st_mtim, info.st_ctim)
        #endif
        return "\(file.path) dev=\(info.st_dev) ino=\(info.st_ino) size=\(info.st_size) "
            + "mtime=\(modified.tv_sec).\(modified.tv_nsec) ctime=\(changed.tv_sec).\(changed.tv_nsec)"
    }

    public func entry(weightsDigest: String, generatorHash: String) -> URL {
        directory.appendingPathComponent("\(weightsDigest.prefix(32))-\(generatorHash.prefix(32))")
    }

    /// Written into every entry: the SHA-256 of each file it holds, checked before anything in it is used.
    public static let checksumsFile = "checksums.json"

    /// The cached adapter, or nil when there is none, it is unreadable, or a file in it no longer has the digest it was
    /// stored with (truncated, corrupted or edited): then it is made again, never used.
    public func load(weightsDigest: String, modelFingerprint: String, generatorHash: String) -> PEFTAdapter? {
        let url = entry(weightsDigest: weightsDigest, generatorHash: generatorHash)
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent(PEFTAdapter.configFile).path),
              Self.verify(entry: url) == nil,
              let adapter = try? PEFTAdapter.load(from: url),
              adapter.config.baseModelFingerprint == modelFingerprint else { return nil }
        return adapter
    }

    /// Why the entry's files do not match its checksums (nil when they all do): a file missing from the record or the
    /// disk, or a digest that differs.
    public static func verify(entry: URL) -> String? {
        let record = entry.appendingPathComponent(checksumsFile)
        guard let data = try? Data(contentsOf: record),
              let recorded = (try? JSONSerialization.jsonObject(with: data)) as? [String: String] else {
            return "\(record.path): missing or unreadable"
        }
        for name in [PEFTAdapter.configFile, PEFTAdapter.weightsFile] where recorded[name] == nil {
            return "\(record.path): no digest for \(name)"
        }
        for (name, digest) in recorded.sorted(by: { $0.key < $1.key }) {
            guard !name.contains("/"), let bytes = try? Data(contentsOf: entry.appendingPathComponent(name)) else {
                return "\(entry.appendingPathComponent(name).path): missing"
            }
            if SHA256.hex(bytes) != digest { return "\(entry.appendingPathComponent(name).path): SHA-256 differs from \(record.path)" }
        }
        return nil
    }

    /// Records the digest of `files` (names in `entry`) beside those already recorded.
    static func recordChecksums(of files: [String], in entry: URL) throws {
        let record = entry.appendingPathComponent(checksumsFile)
        var recorded = ((try? JSONSerialization.jsonObject(with: Data(contentsOf: record))) as? [String: String]) ?? [:]
        for name in files { recorded[name] = SHA256.hex(try Data(contentsOf: entry.appendingPathComponent(name))) }
        try JSONSerialization.data(withJSONObject: recorded, options: [.sortedKeys]).write(to: record, options: .atomic)
    }

    /// Stores an adapter; written beside its final place and renamed, so a reader never sees half an entry.
    public func store(_ adapter: TeleportedAdapter, weightsDigest: String, baseModel: String?) throws -> URL {
        let target = entry(weightsDigest: weightsDigest, generatorHash: adapter.generatorHash)
        let staging = directory.appendingPathComponent(".staging-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try adapter.save(to: staging, baseModel: baseModel)
        try Self.recordChecksums(of: [PEFTAdapter.configFile, PEFTAdapter.weightsFile], in: staging)
        try? FileManager.default.removeItem(at: target)
        do { try FileManager.default.moveItem(at: staging, to: target) } catch {
            try? FileManager.default.removeItem(at: staging)
            if !FileManager.default.fileExists(atPath: target.path) { throw error }
        }
        return target
    }
}
