import Foundation

/// Typed access to one JSON object's fields, with errors that name the file and the field path.
struct JSONFields {
    typealias ErrorMaker = (_ file: String, _ field: String, _ detail: String) -> Error

    let object: [String: Any]
    let file: String
    let path: String
    let makeError: ErrorMaker

    /// Parses a file holding one JSON object.
    static func load(_ url: URL, missing: (String) -> Error, makeError: @escaping ErrorMaker) throws -> JSONFields {
        guard FileManager.default.fileExists(atPath: url.path) else { throw missing(url.path) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw makeError(url.path, "(file)", "unreadable: \(error.localizedDescription)") }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data) } catch {
            throw makeError(url.path, "(file)", "not valid JSON")
        }
        guard let object = parsed as? [String: Any] else { throw makeError(url.path, "(file)", "expected a JSON object") }
        return JSONFields(object: object, file: url.path, path: "", makeError: makeError)
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    func error(_ key: String, _ detail: String) -> Error { makeError(file, name(key), detail) }

    func value<T>(_ key: String, _ type: T.Type, _ expected: String) throws -> T {
        guard let raw = object[key], !(raw is NSNull) else { throw error(key, "missing (expected \(expected))") }
        // JSONSerialization gives NSNumber for booleans too; a number where a string is expected must not pass.
        if T.self == String.self, !(raw is String) { throw error(key, "expected \(expected)") }
        guard let value = raw as? T else { throw error(key, "expected \(expected)") }
        return value
    }

    func string(_ key: String) throws -> String { try value(key, String.self, "a string") }

    func int(_ key: String) throws -> Int {
        let number = try value(key, NSNumber.self, "an integer")
        guard Double(number.intValue) == number.doubleValue else { throw error(key, "expected an integer, found \(number)") }
        return number.intValue
    }

    func positiveInt(_ key: String) throws -> Int {
        let found = try int(key)
        guard found > 0 else { throw error(key, "must be positive, found \(found)") }
        return found
    }

    func double(_ key: String) throws -> Double { try value(key, NSNumber.self, "a number").doubleValue }

    func strings(_ key: String) throws -> [String] { try value(key, [String].self, "a list of strings") }

    func object(_ key: String) throws -> JSONFields {
        JSONFields(object: try value(key, [String: Any].self, "an object"), file: file, path: name(key), makeError: makeError)
    }

    func objects(_ key: String) throws -> [JSONFields] {
        try value(key, [Any].self, "a list of objects").enumerated().map { index, element in
            guard let object = element as? [String: Any] else { throw error("\(key)[\(index)]", "expected an object") }
            return JSONFields(object: object, file: file, path: name("\(key)[\(index)]"), makeError: makeError)
        }
    }
}
