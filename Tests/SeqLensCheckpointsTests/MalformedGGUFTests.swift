import Foundation
import Testing

@testable import SeqLensCheckpoints

/// One tensor entry of a crafted GGUF file; `dims` innermost first, as stored.
struct CraftedTensor {
    var name = "w"
    var dims: [UInt64] = [4]
    var type: UInt32 = 0
    var offset: UInt64 = 0
}

/// Builds a GGUF file byte by byte so each test can break exactly one thing. The defaults give
/// a valid v3 file with one string key and one F32 tensor [1, 2, 3, 4].
struct CraftedGGUF {
    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var tensorCountOverride: UInt64?
    var metadataCountOverride: UInt64?
    /// Writes key/value pairs; returns how many it wrote.
    var metadata: (inout ByteWriter) -> UInt64 = { writer in
        writer.string("general.architecture")
        writer.u32(8)
        writer.string("llama")
        return 1
    }
    var tensors = [CraftedTensor()]
    var alignment = 32
    var data: [UInt8] = {
        var writer = ByteWriter()
        for value: Float in [1, 2, 3, 4] { writer.f32(value) }
        return writer.bytes
    }()

    var bytes: [UInt8] {
        var kv = ByteWriter()
        let kvCount = metadata(&kv)
        var writer = ByteWriter()
        writer.bytes += magic
        writer.u32(version)
        writer.u64(tensorCountOverride ?? UInt64(tensors.count))
        writer.u64(metadataCountOverride ?? kvCount)
        writer.bytes += kv.bytes
        for tensor in tensors {
            writer.string(tensor.name)
            writer.u32(UInt32(tensor.dims.count))
            for dim in tensor.dims { writer.u64(dim) }
            writer.u32(tensor.type)
            writer.u64(tensor.offset)
        }
        writer.pad(to: alignment)
        writer.bytes += data
        return writer.bytes
    }
}

@Suite("GGUF: malformed and hostile files")
struct MalformedGGUFTests {
    let folder: TemporaryFolder

    init() throws { folder = try TemporaryFolder() }

    func open(_ crafted: CraftedGGUF) throws -> GGUFFile {
        try GGUFFile(path: try folder.write("crafted.gguf", crafted.bytes))
    }

    func expectOpenFails(
        _ crafted: CraftedGGUF, _ expectedCase: String, mentioning: [String] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        expectCheckpointError(expectedCase, mentioning: mentioning, sourceLocation: sourceLocation) {
            _ = try open(crafted)
        }
    }

    @Test func craftedBaselineIsValid() throws {
        defer { folder.cleanUp() }
        let file = try open(CraftedGGUF())
        #expect(file.tensorNames == ["w"])
        #expect(file.alignment == 32)
        #expect(file.metadata["general.architecture"]?.string == "llama")
        #expect(try file.floats("w") == [1, 2, 3, 4])
        var version2 = CraftedGGUF()
        version2.version = 2
        #expect(try open(version2).version == 2)
    }

    @Test func missingEmptyAndForeignFiles() throws {
        defer { folder.cleanUp() }
        expectCheckpointError("fileNotFound", mentioning: ["absent.gguf"]) { _ = try GGUFFile(path: folder.path("absent.gguf")) }
        expectCheckpointError("badMagic", mentioning: ["empty.gguf", "GGUF"]) {
            _ = try GGUFFile(path: try folder.write("empty.gguf", []))
        }
        var wrongMagic = CraftedGGUF()
        wrongMagic.magic = Array("GGML".utf8)
        expectOpenFails(wrongMagic, "badMagic", mentioning: ["does not start with the GGUF magic"])
        expectCheckpointError("cannotMap") { _ = try GGUFFile(path: folder.url.path) }
    }

    @Test(arguments: [UInt32(0), 1, 4, 0x0300_0000])
    func unsupportedVersions(version: UInt32) throws {
        defer { folder.cleanUp() }
        var crafted = CraftedGGUF()
        crafted.version = version
        expectOpenFails(crafted, "unsupportedGGUFVersion", mentioning: ["unsupported GGUF version \(version)"])
    }

    @Test("every truncation of a valid header throws truncated, never crashes")
    func truncatedHeaders() throws {
        defer { folder.cleanUp() }
        let full = CraftedGGUF().bytes
        let headerEnd = full.count - 16  // the aligned data section is the last 16 bytes
        for length in 4..<headerEnd {
            let path = try folder.write("cut.gguf", Array(full.prefix(length)))
            do {
                _ = try GGUFFile(path: path)
                Issue.record("a file cut at \(length) bytes parsed")
            } catch let error as CheckpointError {
                // Cut inside the header: a read runs out; cut inside the padding: the tensor's data is missing.
                #expect(["truncated", "offsetOutOfRange", "implausibleCount"].contains(error.caseName), "cut at \(length): \(error)")
            }
        }
        expectCheckpointError("offsetOutOfRange", mentioning: ["'w'", "out of range"]) {
            _ = try GGUFFile(path: try folder.write("cut.gguf", Array(full.dropLast(1))))
        }
    }

    @Test func absurdCounts() throws {
        defer { folder.cleanUp() }
        var tensors = CraftedGGUF()
        tensors.tensorCountOverride = 1 << 60
        expectOpenFails(tensors, "implausibleCount", mentioning: ["tensor count 1152921504606846976"])
        var keys = CraftedGGUF()
        keys.metadataCountOverride = .max
        expectOpenFails(keys, "implausibleCount", mentioning: ["metadata key/value count"])

        var longKey = CraftedGGUF()
        longKey.metadata = { writer in
            writer.u64(1 << 62)  // key length
            writer.bytes += Array("general".utf8)
            return 1
        }
        expectOpenFails(longKey, "implausibleCount", mentioning: ["length of the string at offset 24"])

        var longValue = CraftedGGUF()
        longValue.metadata = { writer in
            writer.string("general.name")
            writer.u32(8)
            writer.u64(UInt64(Int64.max))
            return 1
        }
        expectOpenFails(longValue, "implausibleCount", mentioning: ["length of the string"])

        var hugeArray = CraftedGGUF()
        hugeArray.metadata = { writer in
            writer.string("tokenizer.ggml.tokens")
            writer.u32(9)  // array
            writer.u32(8)  // of strings
            writer.u64(1 << 40)
            return 1
        }
        expectOpenFails(hugeArray, "implausibleCount", mentioning: ["element count of metadata array 'tokenizer.ggml.tokens'"])

        var longName = CraftedGGUF()
        longName.tensors = [CraftedTensor(name: String(repeating: "x", count: 10))]
        let bytes = longName.bytes
        // Patch the tensor name length (right after the metadata) to something huge.
        let nameLengthOffset = 24 + 8 + "general.architecture".utf8.count + 4 + 8 + 5
        var patched = bytes
        withUnsafeBytes(of: UInt64(1 << 50).littleEndian) { patched.replaceSubrange(nameLengthOffset..<nameLengthOffset + 8, with: $0) }
        expectCheckpointError("implausibleCount", mentioning: ["length of the string at offset \(nameLengthOffset)"]) {
            _ = try GGUFFile(path: try folder.write("crafted.gguf", patched))
        }
    }

    @Test func badMetadata() throws {
        defer { folder.cleanUp() }
        var unknownType = CraftedGGUF()
        unknownType.metadata = { writer in
            writer.string("odd.key")
            writer.u32(13)
            writer.u64(0)
            return 1
        }
        expectOpenFails(unknownType, "unknownMetadataType", mentioning: ["'odd.key'", "type id 13"])

        var deepArrays = CraftedGGUF()
        deepArrays.metadata = { writer in
            writer.string("deep")
            writer.u32(9)
            for _ in 0..<40 {
                writer.u32(9)  // element type: array
                writer.u64(1)  // one element, which is again an array
            }
            return 1
        }
        expectOpenFails(deepArrays, "invalidHeader", mentioning: ["nested deeper"])

        var duplicateKey = CraftedGGUF()
        duplicateKey.metadata = { writer in
            for _ in 0..<2 {
                writer.string("general.name")
                writer.u32(4)
                writer.u32(7)
            }
            return 2
        }
        expectOpenFails(duplicateKey, "duplicateName", mentioning: ["'general.name'"])

        for (alignmentType, payload) in [(UInt32(4), UInt32(3)), (4, 0), (5, 32)] {
            var badAlignment = CraftedGGUF()
            badAlignment.metadata = { writer in
                writer.string("general.alignment")
                writer.u32(alignmentType)
                writer.u32(payload)
                return 1
            }
            expectOpenFails(badAlignment, "invalidHeader", mentioning: ["general.alignment"])
        }

        var badKey = CraftedGGUF()
        badKey.metadata = { writer in
            writer.u64(2)
            writer.bytes += [0xC3, 0x28]  // invalid UTF-8
            writer.u32(0)
            writer.u8(1)
            return 1
        }
        expectOpenFails(badKey, "invalidUTF8", mentioning: ["offset 32"])
    }

    @Test func customAlignmentIsHonoured() throws {
        defer { folder.cleanUp() }
        var crafted = CraftedGGUF()
        crafted.alignment = 128
        crafted.metadata = { writer in
            writer.string("general.alignment")
            writer.u32(4)
            writer.u32(128)
            return 1
        }
        let file = try open(crafted)
        #expect(file.alignment == 128)
        #expect(file.dataOffset == 128)
        #expect(try file.floats("w") == [1, 2, 3, 4])
    }

    @Test func badTensorInfos() throws {
        defer { folder.cleanUp() }
        var fiveDims = CraftedGGUF()
        fiveDims.tensors = [CraftedTensor(dims: [1, 1, 1, 1, 4])]
        expectOpenFails(fiveDims, "invalidShape", mentioning: ["5 dimensions"])

        var overflow = CraftedGGUF()
        overflow.tensors = [CraftedTensor(dims: [1 << 40, 1 << 40])]
        expectOpenFails(overflow, "invalidShape", mentioning: ["overflows"])

        var negative = CraftedGGUF()
        negative.tensors = [CraftedTensor(dims: [UInt64.max])]
        expectOpenFails(negative, "invalidShape", mentioning: ["does not fit"])

        var beyond = CraftedGGUF()
        beyond.tensors = [CraftedTensor(offset: 1 << 20)]
        expectOpenFails(beyond, "offsetOutOfRange", mentioning: ["'w'", "1048576"])

        var tooLong = CraftedGGUF()
        tooLong.tensors = [CraftedTensor(dims: [8, 2])]
        expectOpenFails(tooLong, "offsetOutOfRange", mentioning: ["0..<64", "data ends at 16"])

        var misaligned = CraftedGGUF()
        misaligned.tensors = [CraftedTensor(dims: [2], offset: 4)]
        expectOpenFails(misaligned, "misalignedTensor", mentioning: ["offset 4", "alignment 32"])

        var partialBlock = CraftedGGUF()
        partialBlock.tensors = [CraftedTensor(dims: [48], type: 2)]  // Q4_0 rows are multiples of 32
        partialBlock.data = [UInt8](repeating: 0, count: 64)
        expectOpenFails(partialBlock, "rowNotBlockAligned", mentioning: ["row length 48", "Q4_0", "32"])

        var duplicate = CraftedGGUF()
        duplicate.tensors = [CraftedTensor(), CraftedTensor()]
        expectOpenFails(duplicate, "duplicateName", mentioning: ["'w'"])
    }

    @Test("unknown or unsupported types parse; reading them throws")
    func unsupportedOnRead() throws {
        defer { folder.cleanUp() }
        var unknown = CraftedGGUF()
        unknown.tensors = [CraftedTensor(name: "mystery", type: 99)]
        let file = try open(unknown)
        #expect(file.info("mystery")?.dtype == .unsupported("GGML type 99"))
        expectCheckpointError("unsupportedQuantization", mentioning: ["'mystery'", "GGML type 99"]) { _ = try file.floats("mystery") }
        expectCheckpointError("unsupportedQuantization") { _ = try file.rawBytes("mystery") }

        var iq = CraftedGGUF()
        iq.tensors = [CraftedTensor(name: "iq", dims: [32], type: 20)]  // IQ4_NL, 18 bytes per block
        iq.data = [UInt8](repeating: 0, count: 18)
        let iqFile = try open(iq)
        #expect(iqFile.info("iq")?.dtype == .unsupported("IQ4_NL"))
        #expect(try iqFile.rawBytes("iq").count == 18)
        expectCheckpointError("unsupportedQuantization", mentioning: ["unsupported quantization IQ4_NL"]) { _ = try iqFile.floats("iq") }
        expectCheckpointError("tensorNotFound", mentioning: ["no tensor named 'nope'"]) { _ = try iqFile.floats("nope") }
    }

    @Test("corrupting header bytes of the fixture never crashes")
    func randomCorruption() throws {
        defer { folder.cleanUp() }
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("quants.gguf"))))
        let reference = try GGUFFile(path: Fixtures.path("quants.gguf"))
        var generator = SplitMix64(seed: 7)
        var outcomes: [String: Int] = [:]
        for _ in 0..<300 {
            var corrupted = original
            for _ in 0..<3 {
                let position = Int(generator.next() % UInt64(reference.dataOffset))
                corrupted[position] = UInt8(truncatingIfNeeded: generator.next())
            }
            let path = try folder.write("corrupt.gguf", corrupted)
            do {
                let file = try GGUFFile(path: path)
                for name in file.tensorNames { _ = try? file.floats(name) }
                outcomes["parsed", default: 0] += 1
            } catch let error as CheckpointError {
                outcomes[error.caseName, default: 0] += 1
            }
        }
        #expect(outcomes.values.reduce(0, +) == 300)
        #expect(outcomes.count > 1, "\(outcomes)")
    }
}

/// A small deterministic generator, so corruption tests are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
