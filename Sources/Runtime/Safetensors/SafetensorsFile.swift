import Foundation

/// One safetensors file, validated on open.
///
/// `*.safetensors` is memory-mapped privately (copy-on-write), so aligned F32 tensors are read
/// without copying and writes through them never reach the file; `*.safetensors.zst` is
/// decompressed into memory once. Tensor data is little-endian, as on every host we build for.
public final class SafetensorsFile: @unchecked Sendable {
    public let url: URL
    public let tensors: [String: SafetensorsTensorInfo]
    public let metadata: [String: String]

    private let storage: SafetensorsStorage
    /// Offset of the data section within `storage`.
    private let dataStart: Int

    public init(url: URL) throws {
        self.url = url
        let path = url.path
        if url.pathExtension == "zst" {
            let compressed: Data
            do {
                compressed = try Data(contentsOf: url, options: .alwaysMapped)
            } catch {
                throw SafetensorsError.unreadable(file: path, reason: error.localizedDescription)
            }
            let decompressed = try compressed.withUnsafeBytes { try Zstd.decompress($0, file: path) }
            storage = SafetensorsStorage(mallocBytes: decompressed.pointer, count: decompressed.count)
        } else {
            storage = try SafetensorsStorage(mapping: path)
        }
        let header = try SafetensorsHeader(bytes: storage.bytes, file: path)
        tensors = header.tensors
        metadata = header.metadata
        dataStart = header.dataStart
    }

    /// Tensor names, sorted.
    public var tensorNames: [String] { tensors.keys.sorted() }

    /// The tensor as `Float`s. An aligned F32 tensor is a view into the file's private mapping
    /// (no copy; writing to it changes only this process's memory); F32 at an unaligned
    /// offset, F16, BF16 and F64 are converted into a new buffer. Views of the same tensor share
    /// memory, so a write through one (e.g. merging a LoRA adapter) is seen by all of them.
    public func floatBuffer(_ name: String) throws -> FloatBuffer {
        let info = try self.info(name)
        let start = storage.base + dataStart + info.byteRange.lowerBound
        let count = info.elementCount
        switch info.dtype {
        case .f32:
            if Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 {
                return FloatBuffer(viewing: start.assumingMemoryBound(to: Float.self), count: count, owner: storage)
            }
            let result = FloatBuffer(count: count)
            UnsafeMutableRawPointer(result.pointer).copyMemory(from: start, byteCount: info.byteRange.count)
            return result
        case .f16:
            let result = FloatBuffer(count: count)
            Self.withAligned(UInt16.self, start, count) { HalfPrecisionConversion.widenHalf($0, into: result.pointer) }
            return result
        case .bf16:
            let result = FloatBuffer(count: count)
            Self.withAligned(UInt16.self, start, count) {
                HalfPrecisionConversion.widenBFloat16($0, into: result.pointer)
            }
            return result
        case .f64:
            let result = FloatBuffer(count: count)
            Self.withAligned(Double.self, start, count) { source in
                for index in 0..<source.count { result.pointer[index] = Float(source[index]) }
            }
            return result
        default:
            throw SafetensorsError.unsupportedDType(file: url.path, tensor: name, dtype: info.dtype)
        }
    }

    public func floats(_ name: String) throws -> [Float] {
        try floatBuffer(name).array
    }

    /// The tensor's raw little-endian bytes, valid only inside `body`.
    public func withRawBytes<Result>(
        _ name: String, _ body: (UnsafeRawBufferPointer) throws -> Result
    ) throws -> Result {
        let info = try self.info(name)
        let range = (dataStart + info.byteRange.lowerBound)..<(dataStart + info.byteRange.upperBound)
        return try body(UnsafeRawBufferPointer(rebasing: storage.bytes[range]))
    }

    /// The whole file's bytes as loaded (decompressed for `.zst`); for tests and tools.
    func withFileBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(storage.bytes)
    }

    private func info(_ name: String) throws -> SafetensorsTensorInfo {
        guard let info = tensors[name] else { throw SafetensorsError.missingTensor(path: url.path, tensor: name) }
        return info
    }

    /// Hands `body` the elements at `start` as a typed buffer, copying first when `start` is not
    /// aligned for `Element` (the format does not require alignment).
    private static func withAligned<Element>(
        _ type: Element.Type, _ start: UnsafeRawPointer, _ count: Int,
        _ body: (UnsafeBufferPointer<Element>) -> Void
    ) {
        if Int(bitPattern: start) % MemoryLayout<Element>.alignment == 0 {
            body(UnsafeBufferPointer(start: start.assumingMemoryBound(to: Element.self), count: count))
            return
        }
        let aligned = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<Element>.stride, alignment: MemoryLayout<Element>.alignment)
        defer { aligned.deallocate() }
        aligned.copyMemory(from: start, byteCount: count * MemoryLayout<Element>.stride)
        body(UnsafeBufferPointer(start: aligned.assumingMemoryBound(to: Element.self), count: count))
    }
}
