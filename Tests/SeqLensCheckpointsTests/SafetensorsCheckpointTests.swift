import Foundation
import Testing

@testable import SeqLensCheckpoints

/// single.safetensors and sharded/, written by the `safetensors` package from torch tensors,
/// against torch's own `.float()` values.
@Suite("safetensors fixtures vs torch")
struct SafetensorsCheckpointTests {
    let manifest: [[String: Any]]
    let expected: [Float]

    init() throws {
        manifest = try #require(try Fixtures.json("safetensors.expected.json")["tensors"] as? [[String: Any]])
        expected = try Fixtures.floats("safetensors.expected.bin")
    }

    func entries(_ group: String) -> [[String: Any]] { manifest.filter { $0["group"] as? String == group } }

    func check(_ checkpoint: SafetensorsCheckpoint, group: String) throws {
        let wanted = entries(group)
        #expect(Set(checkpoint.tensorNames) == Set(wanted.compactMap { $0["name"] as? String }))
        #expect(checkpoint.tensorNames.count == wanted.count)
        for entry in wanted {
            let name = try #require(entry["name"] as? String)
            let dtype = try #require(entry["dtype"] as? String)
            let info = try #require(checkpoint.info(name))
            #expect(info.shape == (try #require(entry["shape"] as? [Int])), "\(name) shape")
            #expect(info.dtype.description == dtype)
            if let offset = entry["offset"] as? Int, let count = entry["count"] as? Int {
                expectBitIdentical(try checkpoint.floats(name), expected[offset..<offset + count], name)
            } else {
                expectCheckpointError("unsupportedDType", mentioning: ["unsupported dtype", dtype, name]) {
                    _ = try checkpoint.floats(name)
                }
            }
        }
    }

    @Test func singleFile() throws {
        let checkpoint = try SafetensorsCheckpoint(path: Fixtures.path("single.safetensors"))
        try check(checkpoint, group: "single")
        #expect(checkpoint.info("scalar.f32")?.shape == [])
        #expect(try checkpoint.floats("empty.f32").isEmpty)
        expectCheckpointError("tensorNotFound", mentioning: ["no tensor named 'missing'"]) {
            _ = try checkpoint.floats("missing")
        }
    }

    @Test func shardedFolder() throws {
        let checkpoint = try SafetensorsCheckpoint(path: Fixtures.path("sharded"))
        try check(checkpoint, group: "sharded")
        #expect(checkpoint.filePath(of: "layer.1.bias")?.hasSuffix("model-00002-of-00002.safetensors") == true)
        #expect(checkpoint.tensorNames.first.map { checkpoint.filePath(of: $0)?.hasSuffix("00001-of-00002.safetensors") } == true)
    }

    @Test("a folder with model.safetensors, or one lone .safetensors file")
    func plainFolder() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("single.safetensors"))))
        _ = try folder.write("weights-only.safetensors", bytes)
        try check(SafetensorsCheckpoint(path: folder.url.path), group: "single")
        _ = try folder.write("model.safetensors", bytes)
        try check(SafetensorsCheckpoint(path: folder.url.path), group: "single")
    }

    #if !(os(macOS) && arch(x86_64))  // Float16 is unavailable there
    @Test("F16 and BF16 conversions are exact for every bit pattern")
    func halfConversionsExhaustive() {
        var wrongHalf: [UInt16] = []
        var wrongBrain: [UInt16] = []
        for bits in 0...UInt16.max {
            let viaSwift = Float(Float16(bitPattern: bits))
            let ours = HalfFloat.toFloat(bits)
            // NaNs keep their payload in the top mantissa bits (as numpy does).
            let same =
                viaSwift.isNaN
                ? ours.isNaN && ours.bitPattern & 0x007F_E000 == UInt32(bits & 0x03FF) << 13
                : ours.bitPattern == viaSwift.bitPattern
            if !same { wrongHalf.append(bits) }
            if HalfFloat.bfloat16ToFloat(bits).bitPattern != UInt32(bits) << 16 { wrongBrain.append(bits) }
        }
        #expect(wrongHalf.isEmpty, "f16 patterns converted wrongly: \(wrongHalf.prefix(10))")
        #expect(wrongBrain.isEmpty, "bf16 patterns converted wrongly: \(wrongBrain.prefix(10))")
    }
#endif
}
