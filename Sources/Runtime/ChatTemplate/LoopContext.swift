/// The `loop` variable inside a for loop.
struct LoopContext {
    let items: [TemplateValue]
    let index0: Int

    func attribute(_ name: String) -> TemplateValue? {
        switch name {
        case "index": return .int(index0 + 1)
        case "index0": return .int(index0)
        case "revindex": return .int(items.count - index0)
        case "revindex0": return .int(items.count - index0 - 1)
        case "first": return .bool(index0 == 0)
        case "last": return .bool(index0 == items.count - 1)
        case "length": return .int(items.count)
        case "depth": return .int(1)
        case "depth0": return .int(0)
        case "previtem": return index0 > 0 ? items[index0 - 1] : .undefined(message: "there is no previous item")
        case "nextitem": return index0 + 1 < items.count ? items[index0 + 1] : .undefined(message: "there is no next item")
        default: return nil
        }
    }
}
