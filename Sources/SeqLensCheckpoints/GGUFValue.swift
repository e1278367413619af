/// One GGUF metadata value (gguf.md "gguf_metadata_value_type").
///
/// Not `indirect`: arrays hold their elements on the heap already, and a box for every scalar
/// would make a byte array in the file cost tens of bytes of memory per byte.
public enum GGUFValue: Hashable, Sendable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    /// Elements all share one type; arrays may nest.
    case array([GGUFValue])
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    /// The GGUF value type ids (gguf-py `GGUFValueType`).
    enum TypeID: UInt32 {
        case uint8 = 0, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64
    }

    /// Any integer value that fits in `Int`; nil for other kinds.
    public var int: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    /// Any numeric value as Double (floats and integers); nil for others.
    public var double: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: int.map(Double.init)
        }
    }

    /// Any numeric value as Float (float64 is rounded); nil for others.
    public var float: Float? {
        if case .float32(let v) = self { return v }
        return double.map(Float.init)
    }

    public var bool: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    public var string: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    public var array: [GGUFValue]? {
        if case .array(let v) = self { return v }
        return nil
    }

    /// An array whose elements are all strings.
    public var strings: [String]? {
        guard let array else { return nil }
        var result: [String] = []
        result.reserveCapacity(array.count)
        for element in array {
            guard let text = element.string else { return nil }
            result.append(text)
        }
        return result
    }

    /// An array whose elements are all integers that fit in Int.
    public var ints: [Int]? {
        guard let array else { return nil }
        var result: [Int] = []
        result.reserveCapacity(array.count)
        for element in array {
            guard let value = element.int else { return nil }
            result.append(value)
        }
        return result
    }

    /// An array whose elements are all numeric, as Float.
    public var floats: [Float]? {
        guard let array else { return nil }
        var result: [Float] = []
        result.reserveCapacity(array.count)
        for element in array {
            guard let value = element.float else { return nil }
            result.append(value)
        }
        return result
    }
}
