/// One metadata value of a GGUF file, in the file's own type (`gguf_type`).
public enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    /// The element type is kept so an empty array still says what it would hold.
    case array(elementType: UInt32, [GGUFValue])

    /// The type code in the file (`GGUF_TYPE_*`).
    enum TypeCode: UInt32 {
        case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7, string = 8
        case array = 9, uint64 = 10, int64 = 11, float64 = 12

        /// The fewest bytes one value of this type takes in the file (for bounding array lengths before reading).
        var minimumBytes: Int {
            switch self {
            case .uint8, .int8, .bool: return 1
            case .uint16, .int16: return 2
            case .uint32, .int32, .float32: return 4
            case .uint64, .int64, .float64, .string: return 8
            case .array: return 12
            }
        }

        var name: String {
            switch self {
            case .uint8: return "u8"
            case .int8: return "i8"
            case .uint16: return "u16"
            case .int16: return "i16"
            case .uint32: return "u32"
            case .int32: return "i32"
            case .float32: return "f32"
            case .bool: return "bool"
            case .string: return "string"
            case .array: return "array"
            case .uint64: return "u64"
            case .int64: return "i64"
            case .float64: return "f64"
            }
        }
    }

    /// The type's name as the gguf package prints it (`u32`, `string`, `array[string]`).
    /// The value type code the file stores before the value.
    var typeCode: TypeCode {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    public var typeName: String {
        switch self {
        case .uint8: return "u8"
        case .int8: return "i8"
        case .uint16: return "u16"
        case .int16: return "i16"
        case .uint32: return "u32"
        case .int32: return "i32"
        case .uint64: return "u64"
        case .int64: return "i64"
        case .float32: return "f32"
        case .float64: return "f64"
        case .bool: return "bool"
        case .string: return "string"
        case let .array(elementType, _): return "array[\(TypeCode(rawValue: elementType)?.name ?? "\(elementType)")]"
        }
    }

    /// Any integer type as `Int`, when it fits.
    public var integer: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return Int(exactly: v)
        case let .int64(v): return Int(exactly: v)
        default: return nil
        }
    }

    /// Any number as `Double`.
    public var number: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        default: return integer.map(Double.init)
        }
    }

    public var string: String? {
        if case let .string(v) = self { return v }
        return nil
    }

    public var bool: Bool? {
        if case let .bool(v) = self { return v }
        return nil
    }

    public var array: [GGUFValue]? {
        if case let .array(_, values) = self { return values }
        return nil
    }

    /// Short, for `inspect`: long arrays are summarised by type and length.
    public var description: String {
        switch self {
        case let .string(v): return v.count > 80 ? "\"\(v.prefix(77))...\" (\(v.utf8.count) bytes)" : "\"\(v)\""
        case let .array(_, values):
            if values.count > 8 { return "[\(values.prefix(4).map(\.description).joined(separator: ", ")), ...] (\(typeName), \(values.count))" }
            return "[\(values.map(\.description).joined(separator: ", "))]"
        case let .bool(v): return "\(v)"
        case let .float32(v): return "\(v)"
        case let .float64(v): return "\(v)"
        case let .uint64(v): return "\(v)"
        case let .int64(v): return "\(v)"
        default: return integer.map { "\($0)" } ?? "?"
        }
    }
}
