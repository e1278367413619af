import Foundation
import SeqLensTensor

/// `{shape, dtype: "float32", data}`: a tensor's values as base64 of little-endian float32,
/// row-major (JSON text of many floats is slow to write and to read).
enum TensorJSON {
    static func packed(shape: [Int], values: [Float]) -> RPCValue {
        #if _endian(little)
        let bytes = values.withUnsafeBytes { Data($0) }  // already little-endian: one copy
        #else
        var bytes = Data(capacity: values.count * 4)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        #endif
        return ["shape": shape.json, "dtype": "float32", "data": .string(bytes.base64EncodedString())]
    }

    static func packed(_ tensor: Tensor) -> RPCValue { packed(shape: tensor.shape, values: tensor.scalars) }
}
