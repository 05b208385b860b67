/// Typed metadata look-ups that name the key and the file when a value is missing or of the wrong type.
extension GGUFFile {
    func integer(_ key: String) throws -> Int? {
        guard let value = metadata[key] else { return nil }
        guard let integer = value.integer else {
            throw GGUFError.wrongValueType(file: url.path, key: key, expected: "an integer", found: value.typeName)
        }
        return integer
    }

    func requiredInteger(_ key: String) throws -> Int {
        guard let value = try integer(key) else { throw GGUFError.missingKey(file: url.path, key: key) }
        return value
    }

    func number(_ key: String) throws -> Double? {
        guard let value = metadata[key] else { return nil }
        guard let number = value.number else {
            throw GGUFError.wrongValueType(file: url.path, key: key, expected: "a number", found: value.typeName)
        }
        return number
    }

    func string(_ key: String) throws -> String? {
        guard let value = metadata[key] else { return nil }
        guard let string = value.string else {
            throw GGUFError.wrongValueType(file: url.path, key: key, expected: "a string", found: value.typeName)
        }
        return string
    }

    func requiredString(_ key: String) throws -> String {
        guard let value = try string(key) else { throw GGUFError.missingKey(file: url.path, key: key) }
        return value
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = metadata[key] else { return nil }
        guard let bool = value.bool else {
            throw GGUFError.wrongValueType(file: url.path, key: key, expected: "a bool", found: value.typeName)
        }
        return bool
    }

    /// An array whose every element `element` converts; nil when the key is absent.
    func array<Element>(_ key: String, of expected: String, _ element: (GGUFValue) -> Element?) throws -> [Element]? {
        guard let value = metadata[key] else { return nil }
        guard let values = value.array else {
            throw GGUFError.wrongValueType(file: url.path, key: key, expected: "an array of \(expected)", found: value.typeName)
        }
        var result: [Element] = []
        result.reserveCapacity(values.count)
        for item in values {
            guard let converted = element(item) else {
                throw GGUFError.wrongValueType(file: url.path, key: key, expected: "an array of \(expected)", found: value.typeName)
            }
            result.append(converted)
        }
        return result
    }
}
