/// Why a safetensors file, a sharded index or a weight directory could not be read or written.
/// `file` is always a path; `tensor` is the header key the problem belongs to.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    // Reading the file.
    case unreadable(file: String, reason: String)
    /// Shorter than the 8-byte header length.
    case truncated(file: String, size: Int)
    /// Header length larger than `SafetensorsHeader.maximumHeaderLength`; refused before allocating.
    case headerTooLarge(file: String, headerLength: UInt64, limit: Int)
    case headerBeyondFile(file: String, headerLength: UInt64, fileSize: Int)

    // The header's JSON.
    case invalidHeaderJSON(file: String, reason: String)
    case headerNotObject(file: String)
    case entryNotObject(file: String, tensor: String)
    case missingField(file: String, tensor: String, field: String)
    case invalidFieldType(file: String, tensor: String, field: String, expected: String)
    case unknownDType(file: String, tensor: String, dtype: String)
    /// A shape dimension that is negative or not an integer, or a shape whose product overflows.
    case invalidShape(file: String, tensor: String, shape: String)
    /// `data_offsets` that are not two integers with 0 <= begin <= end.
    case invalidOffsets(file: String, tensor: String, offsets: String)
    case offsetsOutOfRange(file: String, tensor: String, end: Int, dataSize: Int)
    case byteCountMismatch(file: String, tensor: String, expected: Int, found: Int)
    case overlappingTensors(file: String, tensor: String, other: String)
    /// `__metadata__` that is not an object of strings; `field` is the offending key (empty for the object itself).
    case invalidMetadata(file: String, field: String)

    // Using a tensor.
    /// `path` is the file, or the model directory for a `WeightStore`.
    case missingTensor(path: String, tensor: String)
    case unsupportedDType(file: String, tensor: String, dtype: SafetensorsDType)
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])

    // Model directories and sharded indexes.
    case noWeights(directory: String)
    case malformedIndex(file: String, reason: String)
    case missingShard(file: String, shard: String)
    /// The index's `weight_map` puts `tensor` in `shard`, but that shard has no such tensor.
    case tensorNotInShard(file: String, tensor: String, shard: String)
    /// The same tensor name in two weight files of one directory (without an index to choose).
    case duplicateTensor(tensor: String, file: String, otherFile: String)

    // Writing.
    case unwritable(file: String, reason: String)
    case valueCountMismatch(file: String, tensor: String, expected: Int, found: Int)
    case invalidTensorName(file: String, tensor: String)
    case unsupportedWriteDType(file: String, dtype: SafetensorsDType)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read (\(reason))"
        case let .truncated(file, size):
            return "\(file): truncated: \(size) bytes, but a safetensors file starts with an 8-byte header length"
        case let .headerTooLarge(file, headerLength, limit):
            return "\(file): header length \(headerLength) exceeds the limit of \(limit) bytes"
        case let .headerBeyondFile(file, headerLength, fileSize):
            return "\(file): header length \(headerLength) runs past the end of the \(fileSize)-byte file"
        case let .invalidHeaderJSON(file, reason):
            return "\(file): header is not valid JSON (\(reason))"
        case let .headerNotObject(file):
            return "\(file): header is not a JSON object"
        case let .entryNotObject(file, tensor):
            return "\(file): tensor '\(tensor)': header entry is not a JSON object"
        case let .missingField(file, tensor, field):
            return "\(file): tensor '\(tensor)': missing field '\(field)'"
        case let .invalidFieldType(file, tensor, field, expected):
            return "\(file): tensor '\(tensor)': field '\(field)' must be \(expected)"
        case let .unknownDType(file, tensor, dtype):
            return "\(file): tensor '\(tensor)': unknown dtype '\(dtype)'"
        case let .invalidShape(file, tensor, shape):
            return "\(file): tensor '\(tensor)': invalid shape \(shape) (dimensions must be non-negative integers)"
        case let .invalidOffsets(file, tensor, offsets):
            return "\(file): tensor '\(tensor)': invalid data_offsets \(offsets) (need [begin, end] with 0 <= begin <= end)"
        case let .offsetsOutOfRange(file, tensor, end, dataSize):
            return "\(file): tensor '\(tensor)': data ends at \(end), beyond the \(dataSize)-byte data section"
        case let .byteCountMismatch(file, tensor, expected, found):
            return "\(file): tensor '\(tensor)': shape and dtype need \(expected) bytes, data_offsets span \(found)"
        case let .overlappingTensors(file, tensor, other):
            return "\(file): tensors '\(tensor)' and '\(other)' overlap in the data section"
        case let .invalidMetadata(file, field):
            return field.isEmpty
                ? "\(file): __metadata__ must be an object of strings"
                : "\(file): __metadata__ field '\(field)' must be a string"
        case let .missingTensor(path, tensor):
            return "\(path): no tensor named '\(tensor)'"
        case let .unsupportedDType(file, tensor, dtype):
            return "\(file): tensor '\(tensor)': dtype \(dtype.rawValue) cannot be read as floats (need F32, F16, BF16 or F64)"
        case let .shapeMismatch(file, tensor, expected, found):
            return "\(file): tensor '\(tensor)': expected shape \(expected), found \(found)"
        case let .noWeights(directory):
            return "\(directory): no weights (model.safetensors, model.safetensors.index.json or *.safetensors[.zst])"
        case let .malformedIndex(file, reason):
            return "\(file): malformed index (\(reason))"
        case let .missingShard(file, shard):
            return "\(file): shard '\(shard)' does not exist (nor '\(shard).zst')"
        case let .tensorNotInShard(file, tensor, shard):
            return "\(file): weight_map puts tensor '\(tensor)' in '\(shard)', which does not contain it"
        case let .duplicateTensor(tensor, file, otherFile):
            return "tensor '\(tensor)' is in both \(file) and \(otherFile)"
        case let .unwritable(file, reason):
            return "\(file): cannot write (\(reason))"
        case let .valueCountMismatch(file, tensor, expected, found):
            return "\(file): tensor '\(tensor)': shape needs \(expected) values, got \(found)"
        case let .invalidTensorName(file, tensor):
            return "\(file): invalid tensor name '\(tensor)' (empty, reserved or repeated)"
        case let .unsupportedWriteDType(file, dtype):
            return "\(file): cannot write dtype \(dtype.rawValue) (only F32, F16 and BF16)"
        }
    }
}
