import Foundation

/// A `POST /adapters` body: per-adapter scale / enabled changes and guard changes, validated before any applies.
struct AdapterChanges {
    struct AdapterChange {
        let id: Int
        let scale: Float?
        let enabled: Bool?
    }

    var adapters: [AdapterChange] = []
    var guardEnabled: Bool?
    var guardScale: Float?

    /// `{"adapters": [...], "guard": {...}}` or llama.cpp's bare list `[{"id", "scale"}]`.
    init(_ body: Any) throws {
        let list: Any?
        if let array = body as? [Any] {
            list = array
        } else if let object = body as? [String: Any] {
            list = object["adapters"]
            if let guardObject = object["guard"], !(guardObject is NSNull) {
                guard let guardObject = guardObject as? [String: Any] else {
                    throw RequestFieldError(field: "guard", detail: "must be an object {\"enabled\", \"scale\"}")
                }
                guardEnabled = try Self.bool(guardObject["enabled"], "guard.enabled")
                guardScale = try Self.scale(guardObject["scale"], "guard.scale")
            }
        } else {
            throw RequestFieldError(field: "(body)", detail: "must be an object {\"adapters\", \"guard\"} or a list of {\"id\", \"scale\"}")
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

    func apply(adapters registry: AdapterRegistry, guardController: GuardController) throws {
        let known = Set(registry.loaded.map(\.number))
        if let unknown = adapters.first(where: { !known.contains($0.id) }) {
            throw AdapterRegistry.Failure.unknownSlot(unknown.id, loaded: known.sorted())
        }
        if (guardEnabled == true || guardScale != nil) && !guardController.isLoaded { throw GuardController.Failure.notLoaded }
        for change in adapters {
            if let scale = change.scale { try registry.setScale(change.id, scale) }
            if let enabled = change.enabled { try registry.setEnabled(change.id, enabled) }
        }
        if let guardScale { try guardController.setScale(guardScale) }
        if let guardEnabled { try guardController.setEnabled(guardEnabled) }
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
