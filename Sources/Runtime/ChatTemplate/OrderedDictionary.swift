/// A string-keyed dictionary that keeps insertion order, like a Python dict.
struct OrderedDictionary {
    private(set) var keys: [String] = []
    private var storage: [String: TemplateValue] = [:]

    var count: Int { keys.count }
    var values: [TemplateValue] { keys.map { storage[$0] ?? TemplateValue.none } }
    var pairs: [(key: String, value: TemplateValue)] { keys.map { ($0, storage[$0] ?? TemplateValue.none) } }

    subscript(key: String) -> TemplateValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }
}
