import Foundation

/// Writes GGUF bytes field by field, so a test can build a valid file and then break exactly one thing.
struct RawGGUF {
    /// A metadata value as written: its type code and encoded bytes.
    struct Value {
        let type: UInt32
        let payload: [UInt8]

        static func u32(_ value: UInt32) -> Value { Value(type: 4, payload: le(value)) }
        static func i32(_ value: Int32) -> Value { Value(type: 5, payload: le(value)) }
        static func f32(_ value: Float) -> Value { Value(type: 6, payload: le(value.bitPattern)) }
        static func bool(_ value: Bool) -> Value { Value(type: 7, payload: [value ? 1 : 0]) }
        static func string(_ value: String) -> Value { Value(type: 8, payload: RawGGUF.string(Array(value.utf8))) }
        static func array(_ elementType: UInt32, _ values: [Value], count: UInt64? = nil) -> Value {
            Value(type: 9, payload: le(elementType) + le(count ?? UInt64(values.count)) + values.flatMap(\.payload))
        }
        static func strings(_ values: [String]) -> Value { array(8, values.map { string($0) }) }
    }

    struct Tensor {
        var name: String
        /// `ne`, first dimension fastest.
        var dimensions: [UInt64]
        var type: UInt32 = 0
        /// nil: placed after the previous tensor, aligned.
        var offset: UInt64?
        var data: [UInt8]
    }

    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var metadata: [(key: [UInt8], value: Value)] = []
    var tensors: [Tensor] = []
    var tensorCount: UInt64?
    var keyValueCount: UInt64?
    var alignment = 32

    mutating func add(_ key: String, _ value: Value) { metadata.append((Array(key.utf8), value)) }

    /// An F32 tensor of `values` with the given `ne`.
    mutating func addF32(_ name: String, _ dimensions: [UInt64], _ values: [Float]) {
        tensors.append(Tensor(name: name, dimensions: dimensions, data: values.flatMap { le($0.bitPattern) }))
    }

    /// The file, and the offset where each part begins ("metadata 0", "tensor info 0", "data", ...).
    func build() -> (bytes: [UInt8], sections: [(name: String, offset: Int)]) {
        var bytes = magic + le(version) + le(tensorCount ?? UInt64(tensors.count)) + le(keyValueCount ?? UInt64(metadata.count))
        var sections: [(String, Int)] = [("header", 0)]
        for (index, entry) in metadata.enumerated() {
            sections.append(("metadata \(index)", bytes.count))
            bytes += RawGGUF.string(entry.key) + le(entry.value.type)
            sections.append(("metadata \(index) value", bytes.count))
            bytes += entry.value.payload
        }
        var offsets: [UInt64] = []
        var next: UInt64 = 0
        for tensor in tensors {
            let offset = tensor.offset ?? next
            offsets.append(offset)
            next = (offset &+ UInt64(tensor.data.count) &+ UInt64(alignment) &- 1) / UInt64(alignment) &* UInt64(alignment)
        }
        for (index, tensor) in tensors.enumerated() {
            sections.append(("tensor info \(index)", bytes.count))
            bytes += RawGGUF.string(Array(tensor.name.utf8)) + le(UInt32(tensor.dimensions.count))
            for dimension in tensor.dimensions { bytes += le(dimension) }
            bytes += le(tensor.type) + le(offsets[index])
        }
        while bytes.count % alignment != 0 { bytes.append(0) }
        let dataStart = bytes.count
        sections.append(("data", dataStart))
        for (index, tensor) in tensors.enumerated() {
            // Offsets far past any data (tests of out-of-range offsets) are written into the info only.
            guard offsets[index] <= 1 << 20 else { continue }
            let start = dataStart + Int(offsets[index])
            if bytes.count < start { bytes += [UInt8](repeating: 0, count: start - bytes.count) }
            for (position, byte) in tensor.data.enumerated() {
                if start + position < bytes.count { bytes[start + position] = byte } else { bytes.append(byte) }
            }
        }
        return (bytes, sections)
    }

    func write(to url: URL) throws { try Data(build().bytes).write(to: url) }

    static func string(_ bytes: [UInt8]) -> [UInt8] { le(UInt64(bytes.count)) + bytes }
}

func le<Value: FixedWidthInteger>(_ value: Value) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}
