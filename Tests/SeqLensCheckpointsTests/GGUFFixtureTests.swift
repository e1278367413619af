import Foundation
import Testing

@testable import SeqLensCheckpoints

/// quants.gguf, written by gguf-py's GGUFWriter, against the values gguf-py itself reads back
/// (scripts/fixtures/make_gguf_fixtures.py).
@Suite("GGUF fixture: dequantization and metadata vs gguf-py")
struct GGUFFixtureTests {
    let file: GGUFFile
    let manifest: [String: Any]
    let expected: [Float]

    init() throws {
        file = try GGUFFile(path: Fixtures.path("quants.gguf"))
        manifest = try Fixtures.json("quants.expected.json")
        expected = try Fixtures.floats("quants.expected.bin")
    }

    var tensorEntries: [[String: Any]] { manifest["tensors"] as? [[String: Any]] ?? [] }

    @Test func headerFacts() throws {
        #expect(file.version == UInt32(try #require(manifest["version"] as? Int)))
        #expect(file.alignment == (try #require(manifest["alignment"] as? Int)))
        #expect(file.dataOffset % file.alignment == 0)
        let unsupported = try #require(manifest["unsupported"] as? [[String: Any]])
        #expect(file.tensorNames.count == tensorEntries.count + unsupported.count)
        #expect(Array(file.tensorNames.prefix(tensorEntries.count)) == tensorEntries.compactMap { $0["name"] as? String })
    }

    @Test("every supported type dequantizes bit-identically to gguf.quants.dequantize")
    func dequantizationMatchesReference() throws {
        #expect(tensorEntries.count == TensorDType.supported.count)
        var seenTypes: Set<String> = []
        for entry in tensorEntries {
            let name = try #require(entry["name"] as? String)
            let typeName = try #require(entry["type"] as? String)
            let shape = try #require(entry["shape"] as? [Int])
            let offset = try #require(entry["offset"] as? Int)
            let count = try #require(entry["count"] as? Int)
            let info = try #require(file.info(name))
            #expect(info.shape == shape, "\(name) shape")
            #expect(info.dtype.description == typeName)
            #expect(info.dtype.ggmlTypeID == UInt32(try #require(entry["ggml_type"] as? Int)))
            #expect(info.elementCount == count)
            let values = try file.floats(name)
            expectBitIdentical(values, expected[offset..<offset + count], name)
            seenTypes.insert(typeName)
        }
        #expect(seenTypes == Set(TensorDType.supported.map(\.description)))
    }

    @Test("the parallel path gives the same bits as one thread")
    func parallelMatchesSerial() throws {
        // Tile the Q4_K fixture blocks past the parallel threshold and compare with per-block runs.
        let bytes = try file.rawBytes("quant.q4_k")
        let copies = Dequantization.parallelThreshold / 1536 + 3
        let tiled = [UInt8]((0..<copies).flatMap { _ in Array(bytes) })
        let count = copies * 1536
        var parallel = [Float](repeating: .nan, count: count)
        var serial = [Float](repeating: .nan, count: count)
        tiled.withUnsafeBytes { source in
            parallel.withUnsafeMutableBufferPointer { out in
                Dequantization.convert(.q4_K, source: source.baseAddress!, elementCount: count, into: out.baseAddress!)
            }
            serial.withUnsafeMutableBufferPointer { out in
                Dequantization.q4_K(source.baseAddress!, count / 256, out.baseAddress!)
            }
        }
        expectBitIdentical(parallel, serial, "parallel Q4_K")
        let reference = try file.floats("quant.q4_k")
        expectBitIdentical(Array(parallel[(count - 1536)...]), reference, "last tile")
    }

    @Test("tensors of unsupported types parse, and reading them names the type")
    func unsupportedTypes() throws {
        let unsupported = try #require(manifest["unsupported"] as? [[String: Any]])
        for entry in unsupported {
            let name = try #require(entry["name"] as? String)
            let typeName = try #require(entry["type"] as? String)
            let info = try #require(file.info(name))
            #expect(info.dtype == .unsupported(typeName))
            #expect(info.shape == (try #require(entry["shape"] as? [Int])))
            expectCheckpointError("unsupportedQuantization", mentioning: ["unsupported quantization", typeName, name]) {
                _ = try file.floats(name)
            }
        }
    }

    @Test("metadata of every value type reads back as written")
    func metadata() throws {
        let expectedMetadata = try #require(manifest["metadata"] as? [String: Any])
        #expect(Set(file.metadataKeys) == Set(expectedMetadata.keys))
        #expect(file.metadataKeys.count == expectedMetadata.count)
        for (key, description) in expectedMetadata {
            let want = try Self.value(from: description)
            #expect(file.metadata[key] == want, "metadata \(key)")
        }
    }

    @Test func metadataAccessors() throws {
        let metadata = file.metadata
        #expect(metadata["test.uint8"]?.int == 200)
        #expect(metadata["test.int64"]?.int == -(1 << 62) - 7)
        #expect(metadata["test.uint64"]?.int == nil)  // 2^63 + 5 does not fit in Int
        #expect(metadata["test.uint32"]?.int == 4_000_000_000)
        #expect(metadata["test.float32"]?.float == Float(3.14159))
        #expect(metadata["test.float64"]?.double == 2.718281828459045)
        #expect(metadata["test.int16"]?.double == -30000)
        #expect(metadata["test.bool"]?.bool == true)
        #expect(metadata["test.string"]?.string == "héllo ✓ wörld 🙂")
        #expect(metadata["test.string"]?.int == nil)
        #expect(metadata["test.array.strings"]?.strings == ["alpha", "", "βeta", "<0x0A>", "Ġthe"])
        #expect(metadata["test.array.int32"]?.ints == [1, -2, 3, Int(Int32.max)])
        #expect(metadata["test.array.float32"]?.floats == [0.5, -1.25, Float(1e-3)])
        #expect(metadata["test.array.strings"]?.ints == nil)
        #expect(metadata["test.array.nested"]?.array?.compactMap(\.ints) == [[1, 2], [3]])
        #expect(metadata["test.array.nested_strings"]?.array?.compactMap(\.strings) == [["x"], ["y", "z"]])
        #expect(metadata["general.alignment"] == .uint32(64))
    }

    /// Builds the expected GGUFValue from the script's typed JSON.
    static func value(from description: Any) throws -> GGUFValue {
        let object = try #require(description as? [String: Any])
        let type = try #require(object["type"] as? String)
        let raw = try #require(object["value"])
        let text = raw as? String ?? ""
        func integer<T: FixedWidthInteger>(_: T.Type) throws -> T { try #require(T(text)) }
        func bits<T: FixedWidthInteger>(_: T.Type) throws -> T { try #require(T(text, radix: 16)) }
        switch type {
        case "UINT8": return .uint8(try integer(UInt8.self))
        case "INT8": return .int8(try integer(Int8.self))
        case "UINT16": return .uint16(try integer(UInt16.self))
        case "INT16": return .int16(try integer(Int16.self))
        case "UINT32": return .uint32(try integer(UInt32.self))
        case "INT32": return .int32(try integer(Int32.self))
        case "UINT64": return .uint64(try integer(UInt64.self))
        case "INT64": return .int64(try integer(Int64.self))
        case "FLOAT32": return .float32(Float(bitPattern: try bits(UInt32.self)))
        case "FLOAT64": return .float64(Double(bitPattern: try bits(UInt64.self)))
        case "BOOL": return .bool(try #require(raw as? Bool))
        case "STRING": return .string(try #require(raw as? String))
        case "ARRAY": return .array(try (try #require(raw as? [Any])).map(value(from:)))
        default:
            Issue.record("unknown type \(type) in fixture")
            return .bool(false)
        }
    }
}
