import Foundation

/// Writes safetensors files that Hugging Face `safetensors` reads (and that `SafetensorsFile` maps
/// without copies: the header is padded so that the data section starts 8-byte aligned).
public enum SafetensorsWriter {
    /// Writes `tensors` in F32, F16 or BF16 (narrowing rounds to nearest even, as PyTorch does).
    /// Header keys are sorted and tensors laid out in that order, so equal input gives equal bytes.
    /// The file appears atomically (temporary file, then rename); a `.zst` url is zstd-compressed.
    public static func write(
        _ tensors: [(name: String, shape: [Int], values: [Float])],
        metadata: [String: String] = [:],
        dtype: SafetensorsDType = .f32,
        to url: URL
    ) throws {
        let path = url.path
        var contents = try encode(tensors, metadata: metadata, dtype: dtype, file: path)
        if url.pathExtension == "zst" { contents = try Zstd.compress(contents) }
        do {
            try contents.write(to: url, options: .atomic)
        } catch {
            throw SafetensorsError.unwritable(file: path, reason: error.localizedDescription)
        }
    }

    /// The uncompressed file contents; `file` names the destination in errors.
    static func encode(
        _ tensors: [(name: String, shape: [Int], values: [Float])],
        metadata: [String: String],
        dtype: SafetensorsDType,
        file: String
    ) throws -> Data {
        guard [.f32, .f16, .bf16].contains(dtype) else {
            throw SafetensorsError.unsupportedWriteDType(file: file, dtype: dtype)
        }
        var seen = Set<String>()
        for tensor in tensors {
            guard !tensor.name.isEmpty, tensor.name != SafetensorsHeader.metadataKey,
                seen.insert(tensor.name).inserted
            else { throw SafetensorsError.invalidTensorName(file: file, tensor: tensor.name) }
            guard tensor.shape.allSatisfy({ $0 >= 0 }) else {
                throw SafetensorsError.invalidShape(file: file, tensor: tensor.name, shape: "\(tensor.shape)")
            }
            let elementCount = tensor.shape.reduce(1, *)
            guard elementCount == tensor.values.count else {
                throw SafetensorsError.valueCountMismatch(
                    file: file, tensor: tensor.name, expected: elementCount, found: tensor.values.count)
            }
        }
        let ordered = tensors.sorted { $0.name < $1.name }

        var entries: [(key: String, json: String)] = []
        if !metadata.isEmpty {
            let fields = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            entries.append((SafetensorsHeader.metadataKey, "{" + fields.joined(separator: ",") + "}"))
        }
        var offset = 0
        for tensor in ordered {
            let end = offset + tensor.values.count * dtype.byteSize
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append(
                (tensor.name, "{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}"))
            offset = end
        }
        let header = "{" + entries.sorted { $0.key < $1.key }
            .map { "\(jsonString($0.key)):\($0.json)" }.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        // Spaces are valid JSON whitespace; padding keeps the data section 8-byte aligned.
        headerBytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - headerBytes.count % 8) % 8))

        var contents = Data(capacity: 8 + headerBytes.count + offset)
        var headerLength = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &headerLength) { contents.append(contentsOf: $0) }
        contents.append(contentsOf: headerBytes)
        for tensor in ordered { append(tensor.values, as: dtype, to: &contents) }
        return contents
    }

    private static func append(_ values: [Float], as dtype: SafetensorsDType, to contents: inout Data) {
        switch dtype {
        case .f16:
            let narrowed = values.map { HalfPrecisionConversion.halfBits(from: $0).littleEndian }
            narrowed.withUnsafeBytes { contents.append(contentsOf: $0) }
        case .bf16:
            let narrowed = values.map { HalfPrecisionConversion.bfloat16Bits(from: $0).littleEndian }
            narrowed.withUnsafeBytes { contents.append(contentsOf: $0) }
        default:
            values.withUnsafeBytes { contents.append(contentsOf: $0) }
        }
    }

    /// A JSON string literal (RFC 8259 §7: quote, backslash and control characters escaped).
    static func jsonString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
