/// Decodes ids as they are generated and hands out only new, complete text.
///
/// Decoders are not local: Strip and Metaspace treat the first token specially, and byte tokens
/// combine into one character. So each step decodes a short window that starts one emitted chunk
/// back (as text-generation-inference does): the window's first-token effects then apply to both the
/// context and the extended text and cancel, and the delta is what the new ids add. Text ending in
/// U+FFFD, or ids ending in a `<0xXX>` byte-fallback token, are held back: the next id may complete
/// the character (or show the byte run is invalid, which changes how all its bytes decode).
public struct StreamingDecoder {
    private let tokenizer: Tokenizer
    private let skipSpecialTokens: Bool
    private var ids: [Int] = []
    /// Start of the decoding window: the start of the chunk emitted before the last one.
    private var prefixOffset = 0
    /// End of what has been emitted.
    private var readOffset = 0

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// The text that `id` completes; empty while a character is still incomplete.
    public mutating func append(_ id: Int) -> String {
        ids.append(id)
        if let token = tokenizer.token(forId: id), Decoder.fallbackByte(token) != nil { return "" }
        return emit(final: false)
    }

    /// Whatever is left, including held-back bytes (decoded as the full decode would).
    public mutating func finish() -> String {
        emit(final: true)
    }

    private mutating func emit(final: Bool) -> String {
        guard readOffset < ids.count else { return "" }
        let context = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let extended = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        if !final && extended.unicodeScalars.last == "\u{FFFD}" { return "" }
        let contextScalars = context.unicodeScalars
        let extendedScalars = extended.unicodeScalars
        guard extendedScalars.count >= contextScalars.count,
              extendedScalars.starts(with: contextScalars) else { return "" }
        // No new text means the new ids were skipped or decode to nothing; keeping them out of the
        // context keeps a later id from landing first in the window (where decoders treat it differently).
        guard extendedScalars.count > contextScalars.count else { return "" }
        let start = extendedScalars.index(extendedScalars.startIndex, offsetBy: contextScalars.count)
        prefixOffset = readOffset
        readOffset = ids.count
        return String(extendedScalars[start...])
    }
}
