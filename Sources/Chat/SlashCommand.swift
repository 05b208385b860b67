import Foundation

/// A REPL line starting with `/`.
enum SlashCommand: Equatable {
    case system(String?)
    case reset
    case temperature(Float)
    case stats
    case adaptersList
    case adapterLoad(directory: String, scale: Float)
    case adapterUnload(Int)
    case adapterScale(Int, Float)
    case guardSet(Bool)
    case guardScale(Float)
    case guardStatus
    case compare
    case verify(suite: String?)
    case help
    case quit

    /// What a command line got wrong, with the usage that would have worked.
    struct UsageError: Error, CustomStringConvertible, Equatable {
        let message: String
        var description: String { message }
    }

    static let helpText = """
    /system TEXT          set the system prompt (no TEXT: show it); the conversation is kept
    /reset                forget the conversation
    /temp X               sampling temperature (0: greedy)
    /stats                speed of the last answer, context used, guard state
    /adapters             list loaded adapters
    /adapters load DIR [SCALE]   apply a PEFT LoRA adapter
    /adapters unload N    remove adapter N
    /adapters scale N X   rescale adapter N (0 disables it)
    /guard on|off         switch the guard
    /guard scale X        set the guard's strength
    /compare              answer the last prompt without and with the guard
    /verify [SUITE]       run a trigger suite (default: the model's suite.json), unguarded and guarded
    /help                 this list
    /quit                 leave (Ctrl-D too); Ctrl-C stops an answer
    """

    static func parse(_ line: String) throws -> SlashCommand {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        let words = trimmed.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let name = words.first else { throw UsageError(message: "empty command; /help lists them") }
        let rest = trimmed.dropFirst(name.count).trimmingCharacters(in: .whitespaces)
        let arguments = Array(words.dropFirst())
        switch name {
        case "/system": return .system(rest.isEmpty ? nil : rest)
        case "/reset": return .reset
        case "/temp", "/temperature":
            guard arguments.count == 1, let value = Float(arguments[0]), value >= 0, value.isFinite else {
                throw UsageError(message: "usage: /temp X with X ≥ 0 (0 is greedy)")
            }
            return .temperature(value)
        case "/stats": return .stats
        case "/adapters", "/adapter": return try parseAdapters(arguments)
        case "/guard":
            switch arguments.first {
            case nil: return .guardStatus
            case "on"?: return .guardSet(true)
            case "off"?: return .guardSet(false)
            case "scale"?:
                guard arguments.count == 2, let value = Float(arguments[1]), value.isFinite else {
                    throw UsageError(message: "usage: /guard scale X")
                }
                return .guardScale(value)
            default: throw UsageError(message: "usage: /guard on|off|scale X")
            }
        case "/compare": return .compare
        case "/verify": return .verify(suite: arguments.first)
        case "/help", "/?": return .help
        case "/quit", "/exit", "/q": return .quit
        default: throw UsageError(message: "unknown command \(name); /help lists them")
        }
    }

    private static func parseAdapters(_ arguments: [String]) throws -> SlashCommand {
        switch arguments.first {
        case nil, "list"?: return .adaptersList
        case "load"?:
            guard arguments.count == 2 || arguments.count == 3 else {
                throw UsageError(message: "usage: /adapters load DIR [SCALE]")
            }
            var scale: Float = 1
            if arguments.count == 3 {
                guard let value = Float(arguments[2]), value.isFinite else { throw UsageError(message: "usage: /adapters load DIR [SCALE]; SCALE is a number") }
                scale = value
            }
            return .adapterLoad(directory: arguments[1], scale: scale)
        case "unload"?:
            guard arguments.count == 2, let number = Int(arguments[1]) else { throw UsageError(message: "usage: /adapters unload N") }
            return .adapterUnload(number)
        case "scale"?:
            guard arguments.count == 3, let number = Int(arguments[1]), let value = Float(arguments[2]), value.isFinite else {
                throw UsageError(message: "usage: /adapters scale N X")
            }
            return .adapterScale(number, value)
        default: throw UsageError(message: "usage: /adapters [load DIR [SCALE] | unload N | scale N X]")
        }
    }
}
