import Foundation

/// The functions every chat template can call: jinja2's `range`, `dict` and `namespace`, and the
/// `raise_exception` and `strftime_now` that transformers adds.
enum JinjaGlobals {
    static func make(now: @escaping @Sendable () -> Date) -> [String: TemplateValue] {
        [
            "raise_exception": .callable(TemplateCallable(name: "raise_exception") { _, arguments in
                throw ChatTemplateError.raised(message: arguments.value(0, "message")?.pythonString ?? "")
            }),
            "strftime_now": .callable(TemplateCallable(name: "strftime_now") { _, arguments in
                guard case let .string(format)? = arguments.value(0, "format") else {
                    throw TemplateRuntimeFailure("strftime_now() argument must be str")
                }
                return .string(strftime(format, now()))
            }),
            "namespace": .callable(TemplateCallable(name: "namespace") { _, arguments in
                var attributes = OrderedDictionary()
                if case let .dictionary(initial)? = arguments.positional.first {
                    for (key, value) in initial.pairs { attributes[key] = value }
                }
                for (name, value) in arguments.keyword {
                    if name.hasPrefix("_") {
                        throw TemplateRuntimeFailure("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(name)'")
                    }
                    attributes[name] = value
                }
                return .namespace(TemplateNamespace(attributes))
            }),
            "dict": .callable(TemplateCallable(name: "dict") { _, arguments in
                var dictionary = OrderedDictionary()
                if case let .dictionary(initial)? = arguments.positional.first {
                    for (key, value) in initial.pairs { dictionary[key] = value }
                }
                for (name, value) in arguments.keyword { dictionary[name] = value }
                return .dictionary(dictionary)
            }),
            "range": .callable(TemplateCallable(name: "range") { _, arguments in
                let bounds = try arguments.positional.map { value -> Int in
                    guard let integer = value.integerValue else { throw TemplateRuntimeFailure("'\(value.typeName)' object cannot be interpreted as an integer") }
                    return integer
                }
                let (start, stop, step): (Int, Int, Int)
                switch bounds.count {
                case 1: (start, stop, step) = (0, bounds[0], 1)
                case 2: (start, stop, step) = (bounds[0], bounds[1], 1)
                case 3: (start, stop, step) = (bounds[0], bounds[1], bounds[2])
                default: throw TemplateRuntimeFailure("range expected 1 to 3 arguments, got \(bounds.count)")
                }
                guard step != 0 else { throw TemplateRuntimeFailure("range() arg 3 must not be zero") }
                // The sandbox refuses ranges longer than this (jinja2.sandbox.MAX_RANGE).
                let count = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
                guard count <= 100_000 else { throw TemplateRuntimeFailure("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).") }
                return .list(stride(from: start, to: stop, by: step).map(TemplateValue.int))
            }),
        ]
    }

    /// C `strftime` in local time, which is what Python's `datetime.now().strftime` calls.
    static func strftime(_ format: String, _ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 256 + format.utf8.count * 8)
        let length = Foundation.strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
