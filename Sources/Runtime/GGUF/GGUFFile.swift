import Foundation

/// One tensor's entry in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// `ne` as stored: the first dimension is the fastest-varying one (a row's length).
    public let dimensions: [Int]
    public let type: GGMLType
    /// Offset from the start of the data section.
    public let offset: Int
    public let byteCount: Int

    /// Row-major shape as PyTorch and safetensors write it: `dimensions` reversed (`[out, in]` for a weight).
    public var shape: [Int] { dimensions.reversed() }
    public var elementCount: Int { dimensions.reduce(1, *) }
}

/// A GGUF file (versions 2 and 3), memory-mapped and validated on open: header, typed metadata, tensor infos,
/// alignment and the data section. The layout is ggml's `gguf.cpp` / the gguf package's `GGUFReader`:
///
///     "GGUF" u32 version, u64 n_tensors, u64 n_kv
///     n_kv × (string key, u32 type, value)          string = u64 length + UTF-8 bytes
///     n_tensors × (string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset)
///     padding to `general.alignment` (default 32), then the data section
///
/// Every count, length, dimension and offset is checked with overflow-free arithmetic against the bytes present
/// before it is used or anything is allocated for it (see `GGUFError`).
public final class GGUFFile: @unchecked Sendable {
    public static let defaultAlignment = 32
    /// ggml's GGML_MAX_DIMS.
    public static let maximumDimensions = 4
    /// Arrays of arrays are legal; nothing real nests, and a bound keeps the reader off deep recursion.
    public static let maximumArrayDepth = 8

    public let url: URL
    public let version: UInt32
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Offset of the data section in the file.
    public let dataStart: Int
    public var fileSize: Int { storage.count }

    private let tensorIndex: [String: Int]
    private let storage: SafetensorsStorage

    public init(url: URL) throws {
        self.url = url
        let path = url.path
        do {
            storage = try SafetensorsStorage(mapping: path)
        } catch SafetensorsError.unreadable(_, let reason) {
            throw GGUFError.unreadable(file: path, reason: reason)
        } catch SafetensorsError.truncated(_, let size) {
            throw GGUFError.truncated(file: path, section: "header", offset: 0, needed: 24, fileSize: size)
        }
        var reader = GGUFByteReader(bytes: storage.bytes, file: path)

        guard storage.count >= 4, storage.bytes.loadUnaligned(as: UInt32.self) == 0x4655_4747 else {
            throw GGUFError.notGGUF(file: path)
        }
        reader.offset = 4
        version = try reader.read(UInt32.self, "header")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(file: path, version: version) }
        let tensorCount = try reader.read(UInt64.self, "header")
        let keyValueCount = try reader.read(UInt64.self, "header")

        // A key-value pair takes at least 13 bytes (key length, type, one byte of value), a tensor info at least 24:
        // counts the whole file could not hold are refused before anything is reserved for them. A file cut short
        // with sensible counts reads on and ends in `truncated`, naming where.
        let kvCount = try reader.boundedCount(keyValueCount, minimumBytes: 13, field: "n_kv (metadata count)", within: storage.count)
        let infoCount = try reader.boundedCount(tensorCount, minimumBytes: 24, field: "n_tensors (tensor count)", within: storage.count)

        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        keys.reserveCapacity(kvCount)
        for index in 0..<kvCount {
            let key = try reader.readString("metadata key \(index)")
            let typeCode = try reader.read(UInt32.self, "metadata '\(key)' type")
            let value = try reader.readValue(typeCode: typeCode, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else { throw GGUFError.duplicateKey(file: path, key: key) }
            keys.append(key)
        }
        metadataKeys = keys
        self.metadata = metadata

        var alignment = Self.defaultAlignment
        if let value = metadata["general.alignment"] {
            guard case let .uint32(raw) = value else {
                throw GGUFError.invalidAlignment(file: path, detail: "should be a u32, found \(value.typeName)")
            }
            guard raw > 0, raw & (raw - 1) == 0 else {
                throw GGUFError.invalidAlignment(file: path, detail: "is \(raw), not a power of two")
            }
            alignment = Int(raw)
        }
        self.alignment = alignment

        var infos: [GGUFTensorInfo] = []
        var rawOffsets: [UInt64] = []
        var index: [String: Int] = [:]
        infos.reserveCapacity(infoCount)
        for position in 0..<infoCount {
            let name = try reader.readString("tensor info \(position) name")
            let section = "tensor info '\(name)'"
            let dimensionCount = try reader.read(UInt32.self, section)
            guard dimensionCount <= Self.maximumDimensions else {
                throw GGUFError.tooManyDimensions(file: path, tensor: name, count: dimensionCount, limit: Self.maximumDimensions)
            }
            var rawDimensions: [UInt64] = []
            for _ in 0..<dimensionCount { rawDimensions.append(try reader.read(UInt64.self, section)) }
            let typeCode = try reader.read(UInt32.self, section)
            let offset = try reader.read(UInt64.self, section)
            guard index[name] == nil else { throw GGUFError.duplicateTensor(file: path, tensor: name) }

            guard !rawDimensions.isEmpty, rawDimensions.allSatisfy({ $0 > 0 && $0 <= UInt64(Int64.max) }) else {
                throw GGUFError.invalidDimension(file: path, tensor: name, dimensions: rawDimensions)
            }
            let dimensions = rawDimensions.map { Int($0) }
            var elements = 1
            for dimension in dimensions {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw GGUFError.sizeOverflow(file: path, tensor: name, dimensions: rawDimensions) }
                elements = product
            }
            guard let type = GGMLType(rawValue: typeCode) else {
                throw GGUFError.unknownTensorType(file: path, tensor: name, type: typeCode)
            }
            guard dimensions[0] % type.blockSize == 0 else {
                throw GGUFError.rowNotBlockAligned(file: path, tensor: name, rowLength: dimensions[0], type: type)
            }
            guard let byteCount = type.byteCount(elements: elements) else {
                throw GGUFError.sizeOverflow(file: path, tensor: name, dimensions: rawDimensions)
            }
            guard offset % UInt64(alignment) == 0 else {
                throw GGUFError.offsetNotAligned(file: path, tensor: name, offset: offset, alignment: alignment)
            }
            index[name] = infos.count
            rawOffsets.append(offset)
            // The offset is range-checked below, once the data section's size is known; until then keep it clamped.
            infos.append(GGUFTensorInfo(name: name, dimensions: dimensions, type: type,
                                        offset: Int(clamping: offset), byteCount: byteCount))
        }

        let (padded, overflow) = reader.offset.addingReportingOverflow(alignment - 1)
        let dataStart = overflow ? Int.max : padded / alignment * alignment
        if !infos.isEmpty, dataStart > storage.count {
            throw GGUFError.truncated(file: path, section: "padding before the data section", offset: reader.offset,
                                      needed: dataStart - reader.offset, fileSize: storage.count)
        }
        self.dataStart = min(dataStart, storage.count)
        let dataSize = storage.count - self.dataStart
        for (info, offset) in zip(infos, rawOffsets) {
            let (end, overflow) = offset.addingReportingOverflow(UInt64(info.byteCount))
            guard !overflow, end <= UInt64(dataSize) else {
                throw GGUFError.tensorOutOfRange(file: path, tensor: info.name, end: overflow ? .max : end, dataSize: dataSize)
            }
        }
        let byOffset = infos.sorted { ($0.offset, $0.name) < ($1.offset, $1.name) }
        for (previous, next) in zip(byOffset, byOffset.dropFirst()) where next.offset < previous.offset + previous.byteCount {
            throw GGUFError.overlappingTensors(file: path, tensor: next.name, other: previous.name)
        }
        tensors = infos
        tensorIndex = index
    }

    public func tensor(_ name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// The tensor's stored bytes, valid only inside `body`.
    public func withBytes<Result>(of tensor: GGUFTensorInfo, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        let start = dataStart + tensor.offset
        return try body(UnsafeRawBufferPointer(rebasing: storage.bytes[start..<(start + tensor.byteCount)]))
    }

    /// The tensor's stored bytes for as long as `owner` lives (the file's mapping): a zero-copy view.
    func view(of tensor: GGUFTensorInfo) -> (bytes: UnsafeRawPointer, owner: AnyObject) {
        (UnsafeRawPointer(storage.base + dataStart + tensor.offset), storage)
    }

    /// Lets the kernel drop the tensor's pages from memory once they were copied or dequantized elsewhere.
    func releasePages(of tensor: GGUFTensorInfo) {
        let start = dataStart + tensor.offset
        storage.releasePages(start..<(start + tensor.byteCount))
    }

    /// The tensor as `Float`s in its stored order (row-major over `shape`). Aligned F32 data is a view into the
    /// file's private mapping (writes stay in this process); every other type is dequantized into new memory,
    /// bit for bit as the gguf package's `gguf.quants.dequantize`.
    public func floatBuffer(_ tensor: GGUFTensorInfo) throws -> FloatBuffer {
        guard tensor.type.isDequantizable else {
            throw GGUFError.unsupportedTensorType(file: url.path, tensor: tensor.name, type: tensor.type)
        }
        let start = storage.base + dataStart + tensor.offset
        if tensor.type == .f32, Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 {
            return FloatBuffer(viewing: start.assumingMemoryBound(to: Float.self), count: tensor.elementCount, owner: storage)
        }
        let result = FloatBuffer(count: tensor.elementCount)
        GGUFDequantization.dequantize(UnsafeRawPointer(start), type: tensor.type, count: tensor.elementCount, into: result.pointer)
        return result
    }
}

/// Reads little-endian values from the file's bytes, checking each read against the end of the file.
struct GGUFByteReader {
    let bytes: UnsafeRawBufferPointer
    let file: String
    var offset = 0

    var remaining: Int { bytes.count - offset }

    mutating func read<Value: FixedWidthInteger>(_: Value.Type, _ section: String) throws -> Value {
        let size = MemoryLayout<Value>.size
        guard remaining >= size else {
            throw GGUFError.truncated(file: file, section: section, offset: offset, needed: size, fileSize: bytes.count)
        }
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: Value.self)
        offset += size
        return Value(littleEndian: value)
    }

    /// `count` from the file, refused when even the smallest encoding of that many items would not fit in `bytes`
    /// (by default what is left of the file).
    func boundedCount(_ count: UInt64, minimumBytes: Int, field: String, within bytes: Int? = nil) throws -> Int {
        let limit = (bytes ?? remaining) / minimumBytes
        guard count <= UInt64(limit) else { throw GGUFError.countTooLarge(file: file, field: field, count: count, limit: limit) }
        return Int(count)
    }

    mutating func readString(_ section: String) throws -> String {
        let length = try read(UInt64.self, section)
        guard length <= UInt64(remaining) else {
            throw GGUFError.stringPastEnd(file: file, section: section, length: length, remaining: remaining)
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(length))])
        offset += Int(length)
        guard let text = String(validatingUTF8Bytes: slice) else { throw GGUFError.invalidUTF8(file: file, section: section) }
        return text
    }

    mutating func readValue(typeCode: UInt32, key: String, depth: Int) throws -> GGUFValue {
        guard let type = GGUFValue.TypeCode(rawValue: typeCode) else {
            throw GGUFError.unknownValueType(file: file, key: key, type: typeCode)
        }
        let section = "metadata '\(key)'"
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, section))
        case .int8: return .int8(try read(Int8.self, section))
        case .uint16: return .uint16(try read(UInt16.self, section))
        case .int16: return .int16(try read(Int16.self, section))
        case .uint32: return .uint32(try read(UInt32.self, section))
        case .int32: return .int32(try read(Int32.self, section))
        case .uint64: return .uint64(try read(UInt64.self, section))
        case .int64: return .int64(try read(Int64.self, section))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, section)))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, section)))
        case .bool:
            let raw = try read(UInt8.self, section)
            guard raw <= 1 else { throw GGUFError.invalidValue(file: file, key: key, detail: "bool byte \(raw) is neither 0 nor 1") }
            return .bool(raw == 1)
        case .string: return .string(try readString(section))
        case .array:
            guard depth < GGUFFile.maximumArrayDepth else {
                throw GGUFError.nestingTooDeep(file: file, key: key, limit: GGUFFile.maximumArrayDepth)
            }
            let elementCode = try read(UInt32.self, section)
            guard let elementType = GGUFValue.TypeCode(rawValue: elementCode) else {
                throw GGUFError.unknownValueType(file: file, key: key, type: elementCode)
            }
            let count = try boundedCount(try read(UInt64.self, section), minimumBytes: elementType.minimumBytes,
                                         field: "metadata '\(key)' array length")
            var values: [GGUFValue] = []
            values.reserveCapacity(count)
            for _ in 0..<count { values.append(try readValue(typeCode: elementCode, key: key, depth: depth + 1)) }
            return .array(elementType: elementCode, values)
        }
    }
}

extension String {
    /// The bytes as a String when they are valid UTF-8, else nil (never repaired).
    init?(validatingUTF8Bytes bytes: UnsafeRawBufferPointer) {
        let decoded = String(decoding: bytes, as: UTF8.self)
        // Decoding replaces each invalid sequence by U+FFFD, so valid input is exactly what reads back unchanged.
        guard decoded.utf8.elementsEqual(bytes) else { return nil }
        self = decoded
    }
}
