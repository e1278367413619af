import Foundation

/// Everything that can go wrong while opening, parsing or reading a checkpoint file.
///
/// Each case names the file it is about and carries the facts a user needs to act on it;
/// `description` turns them into one readable sentence.
public enum CheckpointError: Error, Equatable, Sendable {
    /// No file or folder exists at `path`.
    case fileNotFound(path: String)
    /// The file exists but cannot be opened or memory-mapped (permissions, a directory, mmap failure).
    case cannotMap(path: String, reason: String)
    /// A read of `length` bytes at `offset` would run past the end of a file of `fileSize` bytes.
    case truncated(path: String, offset: Int, length: Int, fileSize: Int)
    /// The safetensors header declares more bytes than the file holds. (The declared value is
    /// not kept: in a file of another kind those are just its first bytes, not to be echoed.)
    case headerLengthMismatch(path: String, fileSize: Int)
    /// The safetensors JSON header (or a sharded index) is not valid JSON or has the wrong structure.
    case invalidJSONHeader(path: String, reason: String)
    /// A GGUF header field holds an impossible value.
    case invalidHeader(path: String, reason: String)
    /// The file does not start with the magic bytes of its format `format` (the bytes found are not
    /// kept, so that messages never quote a foreign file's content).
    case badMagic(path: String, format: String)
    /// The file's GGUF version is not one this reader understands (v2 and v3 are).
    case unsupportedGGUFVersion(path: String, version: UInt32)
    /// A count or length in the header is larger than the file could possibly hold.
    case implausibleCount(path: String, what: String, count: UInt64, limit: UInt64)
    /// A tensor's data lies (partly) outside the file's data section.
    case offsetOutOfRange(path: String, tensor: String, start: UInt64, end: UInt64, limit: UInt64)
    /// Two tensors' byte ranges overlap.
    case overlappingTensors(path: String, first: String, second: String)
    /// A tensor's data offset is not a multiple of the file's alignment.
    case misalignedTensor(path: String, tensor: String, offset: UInt64, alignment: Int)
    /// A tensor's shape is negative, too large, or has too many dimensions.
    case invalidShape(path: String, tensor: String, shape: [Int64], reason: String)
    /// A tensor's byte length does not match its shape and data type.
    case byteCountMismatch(path: String, tensor: String, shape: [Int], dtype: String, expectedBytes: UInt64, actualBytes: UInt64)
    /// A quantized tensor's rows are not a whole number of quantization blocks.
    case rowNotBlockAligned(path: String, tensor: String, rowLength: Int, blockSize: Int, dtype: String)
    /// A safetensors tensor has a dtype this reader cannot convert to Float32.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A GGUF tensor uses a quantization this reader cannot dequantize.
    case unsupportedQuantization(path: String, tensor: String, type: String)
    /// A GGUF metadata value has an unknown type id.
    case unknownMetadataType(path: String, key: String, typeID: UInt32)
    /// A header string is not valid UTF-8.
    case invalidUTF8(path: String, offset: Int)
    /// The same tensor or metadata key appears twice.
    case duplicateName(path: String, name: String)
    /// No tensor of that name exists in the checkpoint.
    case tensorNotFound(path: String, name: String)
}

extension CheckpointError: CustomStringConvertible, LocalizedError {
    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "\(path): no such file or folder"
        case .cannotMap(let path, let reason):
            return "\(path): cannot open or map the file: \(reason)"
        case .truncated(let path, let offset, let length, let fileSize):
            return "\(path): truncated file: reading \(length) bytes at offset \(offset) runs past its end (\(fileSize) bytes)"
        case .headerLengthMismatch(let path, let fileSize):
            return "\(path): header length field is larger than the file (\(fileSize) bytes): not a safetensors file or truncated"
        case .invalidJSONHeader(let path, let reason):
            return "\(path): invalid JSON header: \(reason)"
        case .invalidHeader(let path, let reason):
            return "\(path): invalid header: \(reason)"
        case .badMagic(let path, let format):
            return "\(path): does not start with the \(format) magic: not a \(format) file"
        case .unsupportedGGUFVersion(let path, let version):
            return "\(path): unsupported GGUF version \(version) (supported: 2, 3); re-convert the model with a current llama.cpp"
        case .implausibleCount(let path, let what, let count, let limit):
            return "\(path): implausible \(what) \(count) (at most \(limit) fit in this file); the header is corrupt"
        case .offsetOutOfRange(let path, let tensor, let start, let end, let limit):
            return "\(path): tensor '\(tensor)': data offset range \(start)..<\(end) is out of range (data ends at \(limit))"
        case .overlappingTensors(let path, let first, let second):
            return "\(path): tensors '\(first)' and '\(second)' have overlapping data offset ranges"
        case .misalignedTensor(let path, let tensor, let offset, let alignment):
            return "\(path): tensor '\(tensor)': data offset \(offset) is not a multiple of the alignment \(alignment)"
        case .invalidShape(let path, let tensor, let shape, let reason):
            return "\(path): tensor '\(tensor)': invalid shape \(shape): \(reason)"
        case .byteCountMismatch(let path, let tensor, let shape, let dtype, let expected, let actual):
            return "\(path): tensor '\(tensor)': shape \(shape) of \(dtype) needs \(expected) bytes but its data offsets span \(actual) bytes"
        case .rowNotBlockAligned(let path, let tensor, let rowLength, let blockSize, let dtype):
            return "\(path): tensor '\(tensor)': row length \(rowLength) is not a multiple of the \(dtype) block size \(blockSize)"
        case .unsupportedDType(let path, let tensor, let dtype):
            return "\(path): tensor '\(tensor)': unsupported dtype \(dtype) (supported: F32, F16, BF16)"
        case .unsupportedQuantization(let path, let tensor, let type):
            return "\(path): tensor '\(tensor)': unsupported quantization \(type) (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)"
        case .unknownMetadataType(let path, let key, let typeID):
            return "\(path): metadata key '\(key)' has unknown value type id \(typeID)"
        case .invalidUTF8(let path, let offset):
            return "\(path): string at offset \(offset) is not valid UTF-8"
        case .duplicateName(let path, let name):
            return "\(path): duplicate name '\(name)'"
        case .tensorNotFound(let path, let name):
            return "\(path): no tensor named '\(name)'"
        }
    }

    public var errorDescription: String? { description }
}
