import ArgumentParser
import Foundation
import Runtime

/// A `POST /adapters` body: adapters to load (PEFT directories by path) and to unload (by name or id), per-adapter
/// scale / enabled changes and guard changes, validated before any applies.
struct AdapterChanges {
    struct AdapterChange {
        let id: Int
        let scale: Float?
        let enabled: Bool?
    }

    struct AdapterLoad {
        let path: String
        let scale: Float
        let name: String?
    }

    enum AdapterUnload: Equatable {
        case name(String)
        case id(Int)
    }

    var adapters: [AdapterChange] = []
    var loads: [AdapterLoad] = []
    var unloads: [AdapterUnload] = []
    var guardEnabled: Bool?
    var guardScale: Float?

    /// `{"load": [{"path", "scale"?, "name"?}], "unload": [NAME or ID], "adapters": [...], "guard": {...}}` or
    /// llama.cpp's bare list `[{"id", "scale"}]`.
    init(_ body: Any) throws {
        let list: Any?
        if let array = body as? [Any] {
            list = array
        } else if let object = body as? [String: Any] {
            list = object["adapters"]
            loads = try Self.loads(object["load"])
            unloads = try Self.unloads(object["unload"])
            if let guardObject = object["guard"], !(guardObject is NSNull) {
                guard let guardObject = guardObject as? [String: Any] else {
                    throw RequestFieldError(field: "guard", detail: "must be an object {\"enabled\", \"scale\"}")
                }
                guardEnabled = try Self.bool(guardObject["enabled"], "guard.enabled")
                guardScale = try Self.scale(guardObject["scale"], "guard.scale")
            }
        } else {
            throw RequestFieldError(field: "(body)", detail: "must be an object {\"load\", \"unload\", \"adapters\", \"guard\"} or a list of {\"id\", \"scale\"}")
        }
        if let list, !(list is NSNull) {
            guard let items = list as? [Any] else { throw RequestFieldError(field: "adapters", detail: "must be a list") }
            adapters = try items.enumerated().map { index, item in
                guard let item = item as? [String: Any] else {
                    throw RequestFieldError(field: "adapters[\(index)]", detail: "must be an object {\"id\", \"scale\", \"enabled\"}")
                }
                guard let number = item["id"] as? NSNumber, !isJSONBoolean(number), let id = Int(exactly: number.doubleValue) else {
                    throw RequestFieldError(field: "adapters[\(index)].id", detail: "must be an adapter's integer id (GET /adapters lists them)")
                }
                return AdapterChange(id: id, scale: try Self.scale(item["scale"], "adapters[\(index)].scale"),
                                     enabled: try Self.bool(item["enabled"], "adapters[\(index)].enabled"))
            }
        }
    }

    /// Everything is checked before anything changes: unknown ids and names, missing or malformed adapter
    /// directories, adapters made for another model (fingerprint, layer names, shapes). Loads are applied first and
    /// rolled back if one is refused, so a refused request leaves the adapters as they were.
    /// `root`: the server's `--adapter-dir`; loads resolve under it, and without it no adapter is loaded by path.
    func apply(adapters registry: AdapterRegistry, guardController: GuardController, root: AdapterRoot?) throws {
        let loaded = registry.loaded
        let known = Set(loaded.map(\.number))
        if let unknown = adapters.first(where: { !known.contains($0.id) }) {
            throw AdapterRegistry.Failure.unknownSlot(unknown.id, loaded: known.sorted())
        }
        var unloading: [Int] = []
        for (index, unload) in unloads.enumerated() {
            let id: Int
            do {
                switch unload {
                case .id(let number):
                    guard known.contains(number) else { throw AdapterRegistry.Failure.unknownSlot(number, loaded: known.sorted()) }
                    id = number
                case .name(let name): id = try registry.number(named: name)
                }
            } catch { throw RequestFieldError(field: "unload[\(index)]", detail: "\(error)") }
            guard !unloading.contains(id) else { throw RequestFieldError(field: "unload[\(index)]", detail: "adapter \(id) is listed twice") }
            unloading.append(id)
        }
        if let changed = adapters.first(where: { unloading.contains($0.id) }) {
            throw RequestFieldError(field: "adapters", detail: "adapter \(changed.id) is both changed and unloaded")
        }
        if (guardEnabled == true || guardScale != nil) && !guardController.isLoaded { throw GuardController.Failure.notLoaded }
        var names = Set(loaded.filter { !unloading.contains($0.number) }.map(\.name))
        var read: [(adapter: PEFTAdapter, load: AdapterLoad, field: String)] = []
        for (index, load) in loads.enumerated() {
            let field = "load[\(index)]"
            guard let root else {
                throw RequestFieldError(field: field + ".path", detail: "loading adapters by path is off: start the server with --adapter-dir DIR")
            }
            let directory = try root.resolve(load.path, field: field + ".path")
            do {
                let adapter = try registry.read(directory: directory)
                let name = load.name ?? adapter.name
                guard names.insert(name).inserted else { throw AdapterRegistry.Failure.duplicateName(name) }
                read.append((adapter, load, field))
            } catch { throw RequestFieldError(field: field, detail: "\(error)") }
        }
        var applied: [Int] = []
        for item in read {
            do {
                applied.append(try registry.load(item.adapter, scale: item.load.scale, name: item.load.name).number)
            } catch {
                for number in applied.reversed() { try? registry.unload(number) }
                throw RequestFieldError(field: item.field, detail: "\(error)")
            }
        }
        for number in unloading { try registry.unload(number) }
        for change in adapters {
            if let scale = change.scale { try registry.setScale(change.id, scale) }
            if let enabled = change.enabled { try registry.setEnabled(change.id, enabled) }
        }
        if let guardScale { try guardController.setScale(guardScale) }
        if let guardEnabled { try guardController.setEnabled(guardEnabled) }
    }

    private static func loads(_ value: Any?) throws -> [AdapterLoad] {
        guard let value, !(value is NSNull) else { return [] }
        guard let items = value as? [Any] else { throw RequestFieldError(field: "load", detail: "must be a list of {\"path\", \"scale\", \"name\"}") }
        return try items.enumerated().map { index, item in
            guard let item = item as? [String: Any] else {
                throw RequestFieldError(field: "load[\(index)]", detail: "must be an object {\"path\", \"scale\", \"name\"}")
            }
            guard let path = item["path"] as? String, !path.isEmpty else {
                throw RequestFieldError(field: "load[\(index)].path", detail: "must be the adapter directory's path (a non-empty string)")
            }
            var name: String?
            if let value = item["name"], !(value is NSNull) {
                guard let text = value as? String, !text.isEmpty else {
                    throw RequestFieldError(field: "load[\(index)].name", detail: "must be a non-empty string")
                }
                name = text
            }
            return AdapterLoad(path: path, scale: try scale(item["scale"], "load[\(index)].scale") ?? 1, name: name)
        }
    }

    private static func unloads(_ value: Any?) throws -> [AdapterUnload] {
        guard let value, !(value is NSNull) else { return [] }
        guard let items = value as? [Any] else { throw RequestFieldError(field: "unload", detail: "must be a list of adapter names or ids") }
        return try items.enumerated().map { index, item in
            if let name = item as? String { return .name(name) }
            if let number = item as? NSNumber, !isJSONBoolean(number), let id = Int(exactly: number.doubleValue) { return .id(id) }
            throw RequestFieldError(field: "unload[\(index)]", detail: "must be an adapter's name or integer id (GET /adapters lists them)")
        }
    }

    private static func bool(_ value: Any?, _ field: String) throws -> Bool? {
        guard let value, !(value is NSNull) else { return nil }
        guard isJSONBoolean(value), let flag = value as? Bool else { throw RequestFieldError(field: field, detail: "must be true or false") }
        return flag
    }

    private static func scale(_ value: Any?, _ field: String) throws -> Float? {
        guard let value, !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber, !isJSONBoolean(value), number.doubleValue.isFinite else {
            throw RequestFieldError(field: field, detail: "must be a number")
        }
        return number.floatValue
    }
}

/// The one directory `POST /adapters` may load adapters from (`--adapter-dir`): a path is taken relative to it, and
/// refused when it leaves it, by `..` or by a symbolic link.
struct AdapterRoot: Sendable {
    /// The directory with symbolic links resolved.
    let directory: URL

    init(_ directory: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--adapter-dir \(directory.path): no such directory")
        }
        self.directory = directory.standardizedFileURL.resolvingSymlinksInPath()
    }

    /// The adapter directory `path` names (relative to the root, or absolute), with links resolved; a path outside
    /// the root is a `RequestFieldError` for `field`.
    func resolve(_ path: String, field: String) throws -> URL {
        let named = path.hasPrefix("/") ? URL(fileURLWithPath: path) : directory.appendingPathComponent(path)
        let resolved = named.standardizedFileURL.resolvingSymlinksInPath()
        guard resolved.path.hasPrefix(directory.path + "/") else {
            throw RequestFieldError(field: field, detail: "\(path) is outside the adapter directory (--adapter-dir \(directory.path))")
        }
        return resolved
    }
}
