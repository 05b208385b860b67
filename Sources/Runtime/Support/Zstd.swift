import CZstd
import Foundation

/// Why a zstd frame could not be decompressed or data could not be compressed.
public enum ZstdError: Error, CustomStringConvertible, Equatable {
    /// The decoder rejected the input (bad magic number, corrupt block, checksum mismatch, …).
    case corruptFrame(file: String, reason: String)
    /// The input ended before the last frame was complete (or held no frame at all).
    case truncatedFrame(file: String)
    case compressionFailed(reason: String)
    case outOfMemory(file: String, bytes: Int)

    public var description: String {
        switch self {
        case let .corruptFrame(file, reason):
            return "\(file): corrupt zstd data (\(reason))"
        case let .truncatedFrame(file):
            return "\(file): zstd data is truncated (the last frame is incomplete)"
        case let .compressionFailed(reason):
            return "zstd compression failed (\(reason))"
        case let .outOfMemory(file, bytes):
            return "\(file): cannot allocate \(bytes) bytes for the decompressed data"
        }
    }
}

/// zstd compression for `*.safetensors.zst` weights.
public enum Zstd {
    /// Decompresses all frames in `data`. Streams, so frames without a recorded content size
    /// (as written by `zstd` from a pipe) work too. `file` names the source in errors.
    public static func decompress(_ data: Data, file: String) throws -> Data {
        let output = try data.withUnsafeBytes { try decompress(UnsafeRawBufferPointer($0), file: file) }
        guard output.count > 0 else { output.release(); return Data() }
        return Data(bytesNoCopy: output.pointer, count: output.count, deallocator: .free)
    }

    /// Compresses `data` as one frame that records its content size.
    public static func compress(_ data: Data, level: Int = 19) throws -> Data {
        let bound = ZSTD_compressBound(data.count)
        if ZSTD_isError(bound) != 0 { throw ZstdError.compressionFailed(reason: errorName(bound)) }
        var output = Data(count: bound)
        let written = output.withUnsafeMutableBytes { outputBytes in
            data.withUnsafeBytes { inputBytes in
                ZSTD_compress(
                    outputBytes.baseAddress, bound, inputBytes.baseAddress, inputBytes.count, Int32(level))
            }
        }
        if ZSTD_isError(written) != 0 { throw ZstdError.compressionFailed(reason: errorName(written)) }
        output.count = written
        return output
    }

    /// Decompressed bytes in `malloc` memory (16-byte aligned on the platforms we build for),
    /// so a caller can keep them without another copy. The caller owns `pointer` and frees it.
    struct MallocBytes {
        var pointer: UnsafeMutableRawPointer
        var count: Int
        func release() { free(pointer) }
    }

    static func decompress(_ input: UnsafeRawBufferPointer, file: String) throws -> MallocBytes {
        guard let stream = ZSTD_createDStream() else { throw ZstdError.outOfMemory(file: file, bytes: 0) }
        defer { ZSTD_freeDStream(stream) }
        guard input.count > 0, let inputBase = input.baseAddress else { throw ZstdError.truncatedFrame(file: file) }

        // Start with the recorded content size when the first frame has one; a corrupt header
        // may claim anything, so the guess is capped and the buffer grows as needed anyway.
        let contentSize = ZSTD_getFrameContentSize(inputBase, input.count)
        let unknownOrError = UInt64.max - 1
        var capacity = Int(ZSTD_DStreamOutSize())
        if contentSize < unknownOrError { capacity = max(capacity, Int(min(contentSize, 1 << 30))) }
        guard let start = malloc(capacity) else { throw ZstdError.outOfMemory(file: file, bytes: capacity) }
        var output = MallocBytes(pointer: start, count: 0)
        do {
            var inBuffer = ZSTD_inBuffer(src: inputBase, size: input.count, pos: 0)
            while true {
                if output.count == capacity {
                    let grown = capacity * 2
                    guard let moved = realloc(output.pointer, grown) else {
                        throw ZstdError.outOfMemory(file: file, bytes: grown)
                    }
                    output.pointer = moved
                    capacity = grown
                }
                var outBuffer = ZSTD_outBuffer(dst: output.pointer + output.count, size: capacity - output.count, pos: 0)
                let hint = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                if ZSTD_isError(hint) != 0 { throw ZstdError.corruptFrame(file: file, reason: errorName(hint)) }
                output.count += outBuffer.pos
                let inputConsumed = inBuffer.pos == inBuffer.size
                // 0: a frame is complete and fully flushed. Calling again without input would
                // report the next frame's header as missing, so stop here.
                if hint == 0 && inputConsumed { return output }
                // Input used up, yet the decoder neither filled the output nor finished the frame.
                if inputConsumed && outBuffer.pos < outBuffer.size { throw ZstdError.truncatedFrame(file: file) }
            }
        } catch {
            output.release()
            throw error
        }
    }

    private static func errorName(_ code: Int) -> String {
        guard let name = ZSTD_getErrorName(code) else { return "error \(code)" }
        return String(cString: name)
    }
}
