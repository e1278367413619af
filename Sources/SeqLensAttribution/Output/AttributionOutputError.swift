import Foundation

/// What can go wrong when reading, writing, aggregating or rendering attribution outputs.
public enum AttributionOutputError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// The file could not be read or written.
    case fileAccess(path: String, reason: String)
    /// `save` refuses to replace an existing file unless asked to.
    case fileExists(path: String)
    /// The text is not valid JSON (Python's NaN / Infinity literals are accepted).
    case invalidJSON(offset: Int, reason: String)
    /// Gzip data (a `save(compress=True)` file or a "b64.gz:" array) that does not decompress.
    case invalidGzip(field: String, reason: String)
    /// The JSON parses but does not have the shape of an Inseq attribution output.
    case unexpectedStructure(field: String, expected: String)
    /// A tensor field is not valid base64.
    case invalidBase64(field: String)
    /// A tensor field is not a single-key safetensors blob.
    case invalidSafetensors(field: String, reason: String)
    /// A tensor field holds a dtype that SeqLens cannot read.
    case unsupportedDType(field: String, dtype: String)
    /// Shapes that must agree do not.
    case shapeMismatch(String)
    /// Aggregation was asked for something Inseq refuses too.
    case invalidAggregation(String)
    /// Spans that are empty, overlapping, unordered or outside the sequence.
    case invalidSpans(String)

    public var description: String {
        switch self {
        case .fileAccess(let path, let reason): "cannot access \(path): \(reason)"
        case .fileExists(let path): "\(path) already exists; pass overwrite: true to replace it"
        case .invalidJSON(let offset, let reason): "invalid JSON at byte \(offset): \(reason)"
        case .invalidGzip(let field, let reason): "\(field) is not valid gzip data: \(reason)"
        case .unexpectedStructure(let field, let expected):
            "not an Inseq attribution output: \(field) should be \(expected)"
        case .invalidBase64(let field): "\(field) is not valid base64"
        case .invalidSafetensors(let field, let reason): "\(field) is not a safetensors blob: \(reason)"
        case .unsupportedDType(let field, let dtype):
            "\(field) has dtype \(dtype); supported: F32, F16, BF16, F64, F8_E4M3"
        case .shapeMismatch(let message): "shape mismatch: \(message)"
        case .invalidAggregation(let message): "cannot aggregate: \(message)"
        case .invalidSpans(let message): "invalid spans: \(message)"
        }
    }

    public var errorDescription: String? { description }
}
