/// Why a GGUF file could not be read or used. `file` is always the path; every count, length and offset that comes
/// from the file is checked (overflow-free) against the bytes present before anything is allocated, so a crafted
/// file ends in one of these, never in a trap or a huge allocation. The cases follow the classes of bug found in
/// GGUF loaders (llama.cpp's advisories): counts, lengths and dimensions past the file, overflowing products,
/// misaligned or overlapping data, duplicate names.
public enum GGUFError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    /// The first four bytes are not "GGUF".
    case notGGUF(file: String)
    /// Only versions 2 and 3 (64-bit counts) are read; a byte-swapped version means a big-endian file.
    case unsupportedVersion(file: String, version: UInt32)
    /// The file ends inside `section` (e.g. "header", "metadata key 3", "tensor info 'blk.0.attn_q.weight'").
    case truncated(file: String, section: String, offset: Int, needed: Int, fileSize: Int)
    /// A count in the header (`n_kv`, `n_tensors`) or an array length larger than the rest of the file could hold.
    case countTooLarge(file: String, field: String, count: UInt64, limit: Int)
    /// A string's length runs past the end of the file.
    case stringPastEnd(file: String, section: String, length: UInt64, remaining: Int)
    case invalidUTF8(file: String, section: String)
    case duplicateKey(file: String, key: String)
    case unknownValueType(file: String, key: String, type: UInt32)
    /// Arrays nested deeper than `GGUFFile.maximumArrayDepth`.
    case nestingTooDeep(file: String, key: String, limit: Int)
    /// `general.alignment` that is 0, not a power of two, or not a u32.
    case invalidAlignment(file: String, detail: String)

    case duplicateTensor(file: String, tensor: String)
    case tooManyDimensions(file: String, tensor: String, count: UInt32, limit: Int)
    /// A dimension that is zero, or larger than Int64.max (negative as ggml's int64 `ne`).
    case invalidDimension(file: String, tensor: String, dimensions: [UInt64])
    /// The product of the dimensions (or the byte size) overflows.
    case sizeOverflow(file: String, tensor: String, dimensions: [UInt64])
    case unknownTensorType(file: String, tensor: String, type: UInt32)
    /// The first dimension (a row) is not a whole number of the type's blocks.
    case rowNotBlockAligned(file: String, tensor: String, rowLength: Int, type: GGMLType)
    case offsetNotAligned(file: String, tensor: String, offset: UInt64, alignment: Int)
    case tensorOutOfRange(file: String, tensor: String, end: UInt64, dataSize: Int)
    case overlappingTensors(file: String, tensor: String, other: String)

    // Using the file as a model.
    case missingKey(file: String, key: String)
    case wrongValueType(file: String, key: String, expected: String, found: String)
    case invalidValue(file: String, key: String, detail: String)
    case unsupportedArchitecture(file: String, architecture: String, supported: [String])
    case unsupportedTokenizer(file: String, model: String)
    case missingTensor(file: String, tensor: String)
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    case unsupportedTensorType(file: String, tensor: String, type: GGMLType)
    /// Writing a GGUF file failed (the file named is the one being written).
    case unwritable(file: String, detail: String)
    /// A quantization type the writer does not produce.
    case unsupportedOutputType(file: String, type: GGMLType, supported: [GGMLType])

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read (\(reason))"
        case let .notGGUF(file): return "\(file): not a GGUF file (its first bytes are not 'GGUF')"
        case let .unsupportedVersion(file, version):
            let swapped = version.byteSwapped
            if swapped == 2 || swapped == 3 {
                return "\(file): big-endian GGUF (version \(swapped) byte-swapped) is not supported; convert it on a little-endian host"
            }
            return "\(file): GGUF version \(version) is not supported (2 and 3 are)"
        case let .truncated(file, section, offset, needed, fileSize):
            return "\(file): truncated in \(section): \(needed) bytes needed at offset \(offset), but the file has \(fileSize)"
        case let .countTooLarge(file, field, count, limit):
            return "\(file): \(field) is \(count), more than the rest of the file can hold (at most \(limit))"
        case let .stringPastEnd(file, section, length, remaining):
            return "\(file): \(section): string length \(length) runs past the end of the file (\(remaining) bytes left)"
        case let .invalidUTF8(file, section): return "\(file): \(section) is not valid UTF-8"
        case let .duplicateKey(file, key): return "\(file): metadata key '\(key)' appears twice"
        case let .unknownValueType(file, key, type): return "\(file): metadata '\(key)': unknown value type \(type)"
        case let .nestingTooDeep(file, key, limit): return "\(file): metadata '\(key)': arrays nested deeper than \(limit)"
        case let .invalidAlignment(file, detail): return "\(file): general.alignment \(detail)"
        case let .duplicateTensor(file, tensor): return "\(file): tensor '\(tensor)' appears twice"
        case let .tooManyDimensions(file, tensor, count, limit):
            return "\(file): tensor '\(tensor)' has \(count) dimensions (at most \(limit))"
        case let .invalidDimension(file, tensor, dimensions):
            return "\(file): tensor '\(tensor)' has a zero or negative dimension: \(dimensions)"
        case let .sizeOverflow(file, tensor, dimensions):
            return "\(file): tensor '\(tensor)': the size of dimensions \(dimensions) overflows"
        case let .unknownTensorType(file, tensor, type): return "\(file): tensor '\(tensor)' has unknown ggml type \(type)"
        case let .rowNotBlockAligned(file, tensor, rowLength, type):
            return "\(file): tensor '\(tensor)': row length \(rowLength) is not a multiple of \(type)'s block of \(type.blockSize)"
        case let .offsetNotAligned(file, tensor, offset, alignment):
            return "\(file): tensor '\(tensor)': data offset \(offset) is not a multiple of the alignment \(alignment)"
        case let .tensorOutOfRange(file, tensor, end, dataSize):
            return "\(file): tensor '\(tensor)' ends at byte \(end) of the data section, which has \(dataSize)"
        case let .overlappingTensors(file, tensor, other): return "\(file): tensors '\(other)' and '\(tensor)' overlap"
        case let .missingKey(file, key): return "\(file): metadata key '\(key)' is missing"
        case let .wrongValueType(file, key, expected, found):
            return "\(file): metadata '\(key)' should be \(expected), found \(found)"
        case let .invalidValue(file, key, detail): return "\(file): metadata '\(key)': \(detail)"
        case let .unsupportedArchitecture(file, architecture, supported):
            return "\(file): general.architecture '\(architecture)' is not supported (supported: \(supported.joined(separator: ", ")))"
        case let .unsupportedTokenizer(file, model):
            return "\(file): tokenizer.ggml.model '\(model)' is not supported (gpt2, llama)"
        case let .missingTensor(file, tensor): return "\(file): tensor '\(tensor)' is missing"
        case let .shapeMismatch(file, tensor, expected, found):
            return "\(file): tensor '\(tensor)' has shape \(found), expected \(expected)"
        case let .unsupportedTensorType(file, tensor, type):
            return "\(file): tensor '\(tensor)' is stored as \(type), which this runtime does not read (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)"
        case let .unwritable(file, detail): return "\(file): cannot write (\(detail))"
        case let .unsupportedOutputType(file, type, supported):
            return "\(file): cannot write \(type) (supported: \(supported.map(\.description).joined(separator: ", ")))"
        }
    }
}
