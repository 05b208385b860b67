import Foundation

/// Writes GGUF version 3 files in the layout `GGUFFile` reads (ggml's `gguf.cpp`): header, metadata in the given
/// order, tensor infos, padding to the alignment, then each tensor's bytes at an aligned offset.
public enum GGUFWriter {
    /// One tensor: its ggml dimensions (`ne`, the row length first), type, and a function that produces its bytes
    /// when the data section reaches it (so a large model is never held twice in memory).
    public struct Tensor {
        public let name: String
        public let dimensions: [Int]
        public let type: GGMLType
        public let bytes: () throws -> [UInt8]

        public init(name: String, dimensions: [Int], type: GGMLType, bytes: @escaping () throws -> [UInt8]) {
            self.name = name
            self.dimensions = dimensions
            self.type = type
            self.bytes = bytes
        }

        var byteCount: Int? { type.byteCount(elements: dimensions.reduce(1, *)) }
    }

    /// Writes to a temporary file beside `url` and renames it into place, so a failure leaves no partial file and an
    /// existing file stays as it was.
    public static func write(metadata: [(key: String, value: GGUFValue)], tensors: [Tensor], alignment: Int = GGUFFile.defaultAlignment,
                             to url: URL) throws {
        var header = Data()
        func append<Value: FixedWidthInteger>(_ value: Value) { withUnsafeBytes(of: value.littleEndian) { header.append(contentsOf: $0) } }
        func append(_ text: String) {
            append(UInt64(text.utf8.count))
            header.append(contentsOf: Array(text.utf8))
        }
        func append(_ value: GGUFValue) {
            switch value {
            case .uint8(let v): append(v)
            case .int8(let v): append(v)
            case .uint16(let v): append(v)
            case .int16(let v): append(v)
            case .uint32(let v): append(v)
            case .int32(let v): append(v)
            case .uint64(let v): append(v)
            case .int64(let v): append(v)
            case .float32(let v): append(v.bitPattern)
            case .float64(let v): append(v.bitPattern)
            case .bool(let v): append(UInt8(v ? 1 : 0))
            case .string(let v): append(v)
            case .array(let elementType, let values):
                append(elementType)
                append(UInt64(values.count))
                for element in values { append(element) }
            }
        }

        append(UInt32(0x4655_4747))  // "GGUF"
        append(UInt32(3))
        append(UInt64(tensors.count))
        append(UInt64(metadata.count))
        for (key, value) in metadata {
            append(key)
            append(value.typeCode.rawValue)
            append(value)
        }
        var offset = 0
        var sizes: [Int] = []
        for tensor in tensors {
            guard let size = tensor.byteCount, tensor.dimensions.first.map({ $0 % tensor.type.blockSize == 0 }) == true else {
                throw GGUFError.rowNotBlockAligned(file: url.path, tensor: tensor.name, rowLength: tensor.dimensions.first ?? 0,
                                                   type: tensor.type)
            }
            append(tensor.name)
            append(UInt32(tensor.dimensions.count))
            for dimension in tensor.dimensions { append(UInt64(dimension)) }
            append(UInt32(tensor.type.rawValue))
            append(UInt64(offset))
            sizes.append(size)
            offset = (offset + size + alignment - 1) / alignment * alignment
        }
        header.append(Data(count: (alignment - header.count % alignment) % alignment))

        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).part")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw GGUFError.unwritable(file: url.path, detail: "cannot create \(temporary.path)")
        }
        var renamed = false
        defer { if !renamed { try? FileManager.default.removeItem(at: temporary) } }
        let handle = try FileHandle(forWritingTo: temporary)
        do {
            try handle.write(contentsOf: header)
            for (tensor, size) in zip(tensors, sizes) {
                let bytes = try tensor.bytes()
                guard bytes.count == size else {
                    throw GGUFError.unwritable(file: url.path, detail: "tensor '\(tensor.name)' has \(bytes.count) bytes, expected \(size)")
                }
                try handle.write(contentsOf: bytes)
                try handle.write(contentsOf: Data(count: (alignment - size % alignment) % alignment))
            }
            try handle.close()
        } catch {
            try? handle.close()
            throw error
        }
        if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
        try FileManager.default.moveItem(at: temporary, to: url)
        renamed = true
    }
}

/// Re-encodes a GGUF model's matrices in another block type, as llama.cpp's `llama-quantize` does for the types
/// `GGUFQuantization` writes: every tensor of two or more dimensions whose rows fill whole blocks is dequantized
/// and quantized again; vectors (norms, biases) and everything else are copied as stored, metadata too
/// (`general.file_type` set to the new type's llama.cpp file type).
public enum GGUFRequantizer {
    /// llama.cpp's `llama_ftype` values for the types written.
    static let fileTypes: [GGMLType: UInt32] = [.q8_0: 7, .q4_0: 2]

    public struct Summary: Sendable {
        public let requantized: Int
        public let copied: Int
        public let bytes: Int
    }

    public static func requantize(_ file: GGUFFile, to type: GGMLType, output url: URL) throws -> Summary {
        guard let fileType = fileTypes[type] else {
            throw GGUFError.unsupportedOutputType(file: url.path, type: type, supported: GGUFQuantization.supportedTypes)
        }
        var metadata = file.metadataKeys.compactMap { key in file.metadata[key].map { (key: key, value: $0) } }
        if let index = metadata.firstIndex(where: { $0.key == "general.file_type" }) {
            metadata[index].value = .uint32(fileType)
        } else {
            metadata.append((key: "general.file_type", value: .uint32(fileType)))
        }
        if !metadata.contains(where: { $0.key == "general.quantization_version" }) {
            metadata.append((key: "general.quantization_version", value: .uint32(2)))
        }
        var requantized = 0, copied = 0
        let tensors = file.tensors.map { info -> GGUFWriter.Tensor in
            let converts = info.dimensions.count >= 2 && info.dimensions[0] % type.blockSize == 0 && info.type.isDequantizable
            if converts { requantized += 1 } else { copied += 1 }
            return GGUFWriter.Tensor(name: info.name, dimensions: info.dimensions, type: converts ? type : info.type) {
                guard converts else { return file.withBytes(of: info) { Array($0) } }
                let values = try file.floatBuffer(info)
                defer { file.releasePages(of: info) }
                return try GGUFQuantization.quantize(UnsafeBufferPointer(values.buffer), as: type, tensor: info.name)
            }
        }
        try GGUFWriter.write(metadata: metadata, tensors: tensors, alignment: file.alignment, to: url)
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int
        return Summary(requantized: requantized, copied: copied, bytes: size ?? 0)
    }
}
