import Foundation

/// What a `--model` path names: a Hugging Face model directory or a GGUF file.
public enum ModelPath {
    /// A regular file whose first four bytes are "GGUF" (whatever its name), or a path ending in `.gguf`.
    public static func isGGUF(_ url: URL) -> Bool {
        if url.pathExtension.lowercased() == "gguf" { return true }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let handle = FileHandle(forReadingAtPath: url.path) else { return false }
        defer { try? handle.close() }
        return handle.readData(ofLength: 4) == Data("GGUF".utf8)
    }
}
