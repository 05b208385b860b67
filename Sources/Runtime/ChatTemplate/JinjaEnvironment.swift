/// Variable scopes while rendering: builtins, then the template's context (the variables passed in,
/// which top-level `set` overwrites), then one frame per loop iteration or macro call. A `set` writes to
/// the innermost frame, so assignments inside a loop do not leak out (jinja2 scoping); only
/// namespace attributes carry state out of a loop.
struct JinjaEnvironment {
    var frames: [[String: TemplateValue]]

    init(globals: [String: TemplateValue], context: [String: TemplateValue]) {
        frames = [globals, context]
    }

    func lookup(_ name: String) -> TemplateValue? {
        for frame in frames.reversed() {
            if let value = frame[name] { return value }
        }
        return nil
    }

    mutating func assign(_ name: String, _ value: TemplateValue) {
        frames[frames.count - 1][name] = value
    }

    mutating func pushFrame(_ frame: [String: TemplateValue] = [:]) { frames.append(frame) }
    mutating func popFrame() { frames.removeLast() }
}
