import Foundation
import SeqLensTensor

/// Activations as a safetensors file (what `safetensors.numpy.load_file` and `torch` read): one
/// F32 tensor per site, named by the site, and the input's token ids in the metadata. Large caches
/// go to a file rather than through JSON: 90 residual sites of a 128-token SmolLM2 input are 26 MB,
/// which base64 and a JSON parser turn into several hundred milliseconds.
public enum ActivationFile {
    /// The file's bytes: an 8-byte little-endian header length, the JSON header (padded with
    /// spaces to 8 bytes, as the safetensors library writes it), then the tensors in order.
    public static func data(_ tensors: [(name: String, tensor: Tensor)], tokenIDs: [Int]) -> Data {
        var header: [String: Any] = ["__metadata__": ["format": "pt", "token_ids": "\(tokenIDs)"]]
        var offset = 0
        for (name, tensor) in tensors {
            let bytes = tensor.count * MemoryLayout<Float>.size
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        var text = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        while text.count % 8 != 0 { text.append(UInt8(ascii: " ")) }
        var out = Data(capacity: 8 + text.count + offset)
        withUnsafeBytes(of: UInt64(text.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(text)
        for (_, tensor) in tensors {
            #if _endian(little)
            tensor.scalars.withUnsafeBytes { out.append(contentsOf: $0) }
            #else
            for value in tensor.scalars { withUnsafeBytes(of: value.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            #endif
        }
        return out
    }
}
