import Foundation

/// The validated header of a safetensors file: the layout of its data section and its metadata.
///
/// Layout (https://github.com/huggingface/safetensors#format): an 8-byte little-endian header
/// length N, N bytes of JSON, then the data section that all `data_offsets` are relative to.
struct SafetensorsHeader {
    /// Hugging Face's reader refuses headers above 100 MB; so do we, before allocating anything.
    static let maximumHeaderLength = 100_000_000
    static let metadataKey = "__metadata__"
    /// Deep enough for any real header or index (they nest three levels), shallow enough that hostile
    /// input cannot exhaust the stack.
    static let maximumJSONDepth = 256

    let tensors: [String: SafetensorsTensorInfo]
    let metadata: [String: String]
    /// Offset of the data section from the start of the file.
    let dataStart: Int

    /// Validates the whole file layout in `bytes` (the complete file contents).
    init(bytes: UnsafeRawBufferPointer, file: String) throws {
        guard bytes.count >= 8 else { throw SafetensorsError.truncated(file: file, size: bytes.count) }
        var headerLength: UInt64 = 0
        for index in (0..<8).reversed() { headerLength = headerLength << 8 | UInt64(bytes[index]) }
        guard headerLength <= UInt64(Self.maximumHeaderLength) else {
            throw SafetensorsError.headerTooLarge(
                file: file, headerLength: headerLength, limit: Self.maximumHeaderLength)
        }
        guard Int(headerLength) <= bytes.count - 8 else {
            throw SafetensorsError.headerBeyondFile(file: file, headerLength: headerLength, fileSize: bytes.count)
        }
        dataStart = 8 + Int(headerLength)
        let dataSize = bytes.count - dataStart

        let document: JSONValue
        do {
            document = try JSON.parse(
                UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart]),
                maximumDepth: Self.maximumJSONDepth, duplicateKeys: .reject)
        } catch let error as JSON.SyntaxError {
            throw SafetensorsError.invalidHeaderJSON(file: file, reason: error.description)
        }
        guard case let .object(entries) = document else { throw SafetensorsError.headerNotObject(file: file) }

        var tensors: [String: SafetensorsTensorInfo] = [:]
        var metadata: [String: String] = [:]
        // Sorted so that with several bad entries the same one is always reported.
        for (name, entry) in entries.sorted(by: { $0.key < $1.key }) {
            if name == Self.metadataKey {
                metadata = try Self.metadata(entry, file: file)
            } else {
                tensors[name] = try Self.tensorInfo(name: name, entry: entry, dataSize: dataSize, file: file)
            }
        }
        try Self.checkNoOverlap(Array(tensors.values), file: file)
        self.tensors = tensors
        self.metadata = metadata
    }

    private static func metadata(_ entry: JSONValue, file: String) throws -> [String: String] {
        guard case let .object(fields) = entry else { throw SafetensorsError.invalidMetadata(file: file, field: "") }
        var metadata: [String: String] = [:]
        for (key, value) in fields {
            guard case let .string(text) = value else { throw SafetensorsError.invalidMetadata(file: file, field: key) }
            metadata[key] = text
        }
        return metadata
    }

    private static func tensorInfo(
        name: String, entry: JSONValue, dataSize: Int, file: String
    ) throws -> SafetensorsTensorInfo {
        guard case .object = entry else {
            throw SafetensorsError.entryNotObject(file: file, tensor: name)
        }
        func field(_ key: String) throws -> JSONValue {
            guard let value = entry[key] else {
                throw SafetensorsError.missingField(file: file, tensor: name, field: key)
            }
            return value
        }

        guard case let .string(dtypeName) = try field("dtype") else {
            throw SafetensorsError.invalidFieldType(file: file, tensor: name, field: "dtype", expected: "a string")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw SafetensorsError.unknownDType(file: file, tensor: name, dtype: dtypeName)
        }

        let shapeValue = try field("shape")
        guard case let .array(dimensions) = shapeValue else {
            throw SafetensorsError.invalidFieldType(
                file: file, tensor: name, field: "shape", expected: "an array of integers")
        }
        var shape: [Int] = []
        var elementCount = 1
        for dimension in dimensions {
            guard case let .integer(size) = dimension, size >= 0 else {
                throw SafetensorsError.invalidShape(file: file, tensor: name, shape: shapeValue.text)
            }
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: size)
            if overflow { throw SafetensorsError.invalidShape(file: file, tensor: name, shape: shapeValue.text) }
            elementCount = product
            shape.append(size)
        }

        let offsetsValue = try field("data_offsets")
        guard case let .array(offsets) = offsetsValue, offsets.count == 2,
            case let .integer(begin) = offsets[0], case let .integer(end) = offsets[1]
        else {
            throw SafetensorsError.invalidFieldType(
                file: file, tensor: name, field: "data_offsets", expected: "two integers [begin, end]")
        }
        guard begin >= 0, begin <= end else {
            throw SafetensorsError.invalidOffsets(file: file, tensor: name, offsets: offsetsValue.text)
        }
        guard end <= dataSize else {
            throw SafetensorsError.offsetsOutOfRange(file: file, tensor: name, end: end, dataSize: dataSize)
        }
        let (byteCount, overflow) = elementCount.multipliedReportingOverflow(by: dtype.byteSize)
        if overflow { throw SafetensorsError.invalidShape(file: file, tensor: name, shape: shapeValue.text) }
        guard byteCount == end - begin else {
            throw SafetensorsError.byteCountMismatch(file: file, tensor: name, expected: byteCount, found: end - begin)
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, byteRange: begin..<end)
    }

    /// Overlapping tensors would alias: a write through one (LoRA merging) would change the other.
    private static func checkNoOverlap(_ tensors: [SafetensorsTensorInfo], file: String) throws {
        let ordered = tensors.filter { !$0.byteRange.isEmpty }.sorted {
            ($0.byteRange.lowerBound, $0.name) < ($1.byteRange.lowerBound, $1.name)
        }
        for (previous, next) in zip(ordered, ordered.dropFirst())
        where next.byteRange.lowerBound < previous.byteRange.upperBound {
            throw SafetensorsError.overlappingTensors(file: file, tensor: previous.name, other: next.name)
        }
    }
}
