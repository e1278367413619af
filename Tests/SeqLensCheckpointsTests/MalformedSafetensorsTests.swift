import Foundation
import Testing

@testable import SeqLensCheckpoints

/// A safetensors file from a header string and data bytes; the declared header length can lie.
func craftedSafetensors(_ header: String, data: [UInt8] = [UInt8](repeating: 0, count: 16), declaredLength: UInt64? = nil) -> [UInt8] {
    var writer = ByteWriter()
    writer.u64(declaredLength ?? UInt64(header.utf8.count))
    writer.bytes += header.utf8
    writer.bytes += data
    return writer.bytes
}

@Suite("safetensors: malformed and hostile files")
struct MalformedSafetensorsTests {
    let folder: TemporaryFolder

    init() throws { folder = try TemporaryFolder() }

    func expectOpenFails(
        _ header: String, data: [UInt8] = [UInt8](repeating: 0, count: 16), declaredLength: UInt64? = nil,
        _ expectedCase: String, mentioning: [String] = [], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        expectCheckpointError(expectedCase, mentioning: mentioning, sourceLocation: sourceLocation) {
            let path = try folder.write("crafted.safetensors", craftedSafetensors(header, data: data, declaredLength: declaredLength))
            _ = try SafetensorsCheckpoint(path: path)
        }
    }

    @Test func craftedBaselineIsValid() throws {
        defer { folder.cleanUp() }
        var data = ByteWriter()
        for value: Float in [1, -2, 3.5, 0] { data.f32(value) }
        let header = #"{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let checkpoint = try SafetensorsCheckpoint(path: try folder.write("ok.safetensors", craftedSafetensors(header, data: data.bytes)))
        #expect(checkpoint.tensorNames == ["a", "b"])  // data-offset order
        #expect(try checkpoint.floats("a") == [1, -2])
        #expect(try checkpoint.floats("b") == [3.5, 0])
    }

    @Test func missingAndEmptyFiles() throws {
        defer { folder.cleanUp() }
        expectCheckpointError("fileNotFound", mentioning: ["absent.safetensors"]) {
            _ = try SafetensorsCheckpoint(path: folder.path("absent.safetensors"))
        }
        expectCheckpointError("fileNotFound", mentioning: ["model.safetensors"]) {
            _ = try SafetensorsCheckpoint(path: folder.url.path)  // a folder without weights
        }
        expectCheckpointError("truncated", mentioning: ["empty.safetensors", "truncated"]) {
            _ = try SafetensorsCheckpoint(path: try folder.write("empty.safetensors", []))
        }
        expectCheckpointError("truncated", mentioning: ["8 bytes at offset 0"]) {
            _ = try SafetensorsCheckpoint(path: try folder.write("short.safetensors", [1, 2, 3, 4, 5]))
        }
    }

    @Test func lyingHeaderLength() throws {
        defer { folder.cleanUp() }
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        expectOpenFails(header, declaredLength: 1 << 40, "headerLengthMismatch", mentioning: ["header length field is larger than the file", "not a safetensors file"])
        expectOpenFails(header, declaredLength: .max, "headerLengthMismatch")
        // Declared longer than the JSON but within the file: the JSON then swallows data bytes.
        expectOpenFails(header, declaredLength: UInt64(header.utf8.count + 4), "invalidJSONHeader")
    }

    @Test func badJSON() throws {
        defer { folder.cleanUp() }
        expectOpenFails("this is not json", "invalidJSONHeader", mentioning: ["not valid JSON"])
        expectOpenFails("[1, 2, 3]", "invalidJSONHeader", mentioning: ["not a JSON object"])
        expectOpenFails(#"{"a": 5}"#, "invalidJSONHeader", mentioning: ["tensor 'a'", "dtype"])
        expectOpenFails(#"{"a":{"shape":[4],"data_offsets":[0,16]}}"#, "invalidJSONHeader", mentioning: ["dtype"])
        expectOpenFails(#"{"a":{"dtype":"F32","shape":["4"],"data_offsets":[0,16]}}"#, "invalidJSONHeader", mentioning: ["integers"])
        expectOpenFails(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0]}}"#, "invalidJSONHeader", mentioning: ["data_offsets"])
        expectOpenFails(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0.5,16]}}"#, "invalidJSONHeader", mentioning: ["data_offsets"])
    }

    @Test func offsetsOutOfRange() throws {
        defer { folder.cleanUp() }
        expectOpenFails(
            #"{"a":{"dtype":"F32","shape":[25],"data_offsets":[0,100]}}"#, "offsetOutOfRange",
            mentioning: ["'a'", "0..<100", "data ends at 16"])
        expectOpenFails(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, "offsetOutOfRange", mentioning: ["8..<4"])
        expectOpenFails(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, "offsetOutOfRange")
        expectOpenFails(
            #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
            "overlappingTensors", mentioning: ["'a'", "'b'", "overlapping"])
    }

    @Test func shapesThatDisagreeWithBytes() throws {
        defer { folder.cleanUp() }
        expectOpenFails(
            #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, "byteCountMismatch",
            mentioning: ["'a'", "[3]", "needs 12 bytes", "span 16 bytes"])
        expectOpenFails(#"{"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,16]}}"#, "byteCountMismatch", mentioning: ["BF16"])
        expectOpenFails(#"{"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}"#, "invalidShape", mentioning: ["negative dimension -4"])
        expectOpenFails(
            #"{"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,16]}}"#, "invalidShape",
            mentioning: ["overflows"])
        expectOpenFails(
            #"{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,16]}}"#, "byteCountMismatch")
    }

    @Test func unsupportedDTypeOnRead() throws {
        defer { folder.cleanUp() }
        let header = #"{"ids":{"dtype":"I32","shape":[4],"data_offsets":[0,16]},"odd":{"dtype":"F4","shape":[3],"data_offsets":[16,16]}}"#
        let checkpoint = try SafetensorsCheckpoint(path: try folder.write("ints.safetensors", craftedSafetensors(header)))
        #expect(checkpoint.info("ids")?.dtype == .unsupported("I32"))
        expectCheckpointError("unsupportedDType", mentioning: ["'ids'", "unsupported dtype I32"]) { _ = try checkpoint.floats("ids") }
        expectCheckpointError("unsupportedDType", mentioning: ["F4"]) { _ = try checkpoint.floats("odd") }
        expectCheckpointError("tensorNotFound") { _ = try checkpoint.floats("missing") }
    }

    @Test func brokenShardIndexes() throws {
        defer { folder.cleanUp() }
        let shard = craftedSafetensors(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#)
        _ = try folder.write("shard-1.safetensors", shard)
        _ = try folder.write("shard-2.safetensors", shard)
        let indexName = "model.safetensors.index.json"
        let cases: [(String, String, [String])] = [
            ("not json", "invalidJSONHeader", [indexName, "not valid JSON"]),
            (#"{"metadata":{}}"#, "invalidJSONHeader", ["weight_map"]),
            (#"{"weight_map":{"a":"../shard-1.safetensors"}}"#, "invalidJSONHeader", ["same folder"]),
            (#"{"weight_map":{"a":"shard-1.safetensors","b":"shard-1.safetensors"}}"#, "invalidJSONHeader", ["'b'", "no such tensor"]),
            (#"{"weight_map":{"a":"shard-9.safetensors"}}"#, "fileNotFound", ["shard-9.safetensors"]),
            (#"{"weight_map":{"a":"shard-1.safetensors","x":"shard-2.safetensors"}}"#, "invalidJSONHeader", ["'x'"]),
        ]
        for (index, expectedCase, fragments) in cases {
            _ = try folder.write(indexName, Array(index.utf8))
            expectCheckpointError(expectedCase, mentioning: fragments) { _ = try SafetensorsCheckpoint(path: folder.url.path) }
        }
        // Both shards hold a tensor named "a".
        var duplicateShard = ByteWriter()
        duplicateShard.bytes = craftedSafetensors(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"c":{"dtype":"F32","shape":[0],"data_offsets":[16,16]}}"#)
        _ = try folder.write("shard-2.safetensors", duplicateShard.bytes)
        _ = try folder.write(indexName, Array(#"{"weight_map":{"a":"shard-1.safetensors","c":"shard-2.safetensors"}}"#.utf8))
        expectCheckpointError("duplicateName", mentioning: ["'a'"]) { _ = try SafetensorsCheckpoint(path: folder.url.path) }
    }

    @Test("every truncation of a valid file throws, never crashes")
    func truncations() throws {
        defer { folder.cleanUp() }
        let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("single.safetensors"))))
        var outcomes: [String: Int] = [:]
        for length in 0..<full.count {
            let path = try folder.write("cut.safetensors", Array(full.prefix(length)))
            do {
                _ = try SafetensorsCheckpoint(path: path)
                Issue.record("a file cut at \(length) bytes opened")
            } catch let error as CheckpointError {
                outcomes[error.caseName, default: 0] += 1
            }
        }
        #expect(Set(outcomes.keys).isSubset(of: ["truncated", "headerLengthMismatch", "offsetOutOfRange"]), "\(outcomes)")
    }
}
