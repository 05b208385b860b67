import Foundation

/// The shortest path from a model directory to streamed chat text:
///
///     let lm = try LanguageModel.load(path: "models/demo")
///     for try await delta in lm.chat([ChatMessage(role: "user", content: "Hi")]) { print(delta.text, terminator: "") }
extension LanguageModel {
    public static func load(path: String) throws -> LanguageModel {
        try load(directory: URL(fileURLWithPath: path))
    }

    /// Renders `messages` through the chat template and streams the answer; cancelling the consuming task stops it.
    /// `options` defaults to the model's generation_config.json sampling.
    public func chat(_ messages: [ChatMessage], options: GenerationOptions? = nil) -> AsyncThrowingStream<GenerationDelta, Error> {
        let promptIds: [Int]
        do { promptIds = try encodeChat(messages) } catch {
            return AsyncThrowingStream { $0.finish(throwing: error) }
        }
        return TextGenerator(self).stream(promptIds: promptIds, options: options ?? GenerationOptions(sampling: defaultSampling))
    }
}
