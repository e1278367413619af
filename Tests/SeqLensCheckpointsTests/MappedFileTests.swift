import Foundation
import Testing

@testable import SeqLensCheckpoints

/// Little-endian byte builder for crafted test files.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func f32(_ value: Float) { u32(value.bitPattern) }
    /// A GGUF string: u64 length, then the UTF-8 bytes.
    mutating func string(_ text: String) {
        u64(UInt64(text.utf8.count))
        bytes += text.utf8
    }
    mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }
}

@Suite("MappedFile")
struct MappedFileTests {
    @Test func littleEndianReads() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        var writer = ByteWriter()
        writer.u8(0xAB)  // 0
        writer.u16(0xBEEF)  // 1
        writer.u32(0xDEAD_BEEF)  // 3
        writer.u64(0x0123_4567_89AB_CDEF)  // 7
        writer.u32(UInt32(bitPattern: -5))  // 15
        writer.f32(-1.5)  // 19
        writer.u16(0x3C00)  // 23: f16 1.0
        writer.bytes += Array("héllo".utf8)  // 25, 6 bytes
        let path = try folder.write("values.bin", writer.bytes)
        let file = try MappedFile(path: path)
        #expect(file.size == 31)
        #expect(file.path == path)
        #expect(try file.uint8(at: 0) == 0xAB)
        #expect(try file.int8(at: 0) == Int8(bitPattern: 0xAB))
        #expect(try file.uint16(at: 1) == 0xBEEF)
        #expect(try file.uint32(at: 3) == 0xDEAD_BEEF)
        #expect(try file.uint64(at: 7) == 0x0123_4567_89AB_CDEF)
        #expect(try file.int32(at: 15) == -5)
        #expect(try file.float(at: 19) == -1.5)
        #expect(try file.float16(at: 23) == 1.0)
        #expect(try file.string(at: 25, byteCount: 6) == "héllo")
        #expect(Array(try file.bytes(at: 29, count: 2)) == [0x6C, 0x6F])
        #expect(try file.data(at: 30, count: 1) == Data([0x6F]))
        #expect(try file.bytes(at: 31, count: 0).isEmpty)
    }

    @Test func readsPastTheEndThrowNamingFileAndOffset() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let path = try folder.write("short.bin", [1, 2, 3, 4, 5])
        let file = try MappedFile(path: path)
        expectCheckpointError("truncated", mentioning: [path, "offset 2", "4 bytes"]) { _ = try file.uint32(at: 2) }
        expectCheckpointError("truncated", mentioning: [path, "offset 5"]) { _ = try file.uint8(at: 5) }
        expectCheckpointError("truncated", mentioning: ["offset -1"]) { _ = try file.uint8(at: -1) }
        expectCheckpointError("truncated") { _ = try file.uint64(at: 0) }
        expectCheckpointError("truncated") { _ = try file.bytes(at: 1, count: Int.max) }
        expectCheckpointError("truncated") { _ = try file.bytes(at: Int.max, count: 1) }
        expectCheckpointError("truncated") { _ = try file.string(at: 3, byteCount: 3) }
    }

    @Test func invalidUTF8IsAnErrorUnlessLenient() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let file = try MappedFile(path: try folder.write("bad.txt", [0x61, 0xFF, 0x62]))
        expectCheckpointError("invalidUTF8", mentioning: ["offset 0", "UTF-8"]) { _ = try file.string(at: 0, byteCount: 3) }
        #expect(try file.lenientString(at: 0, byteCount: 3) == "a\u{FFFD}b")
    }

    @Test func emptyFileMapsAndEveryReadThrows() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        let file = try MappedFile(path: try folder.write("empty.bin", []))
        #expect(file.size == 0)
        #expect(try file.bytes(at: 0, count: 0).isEmpty)
        expectCheckpointError("truncated", mentioning: ["0 bytes"]) { _ = try file.uint8(at: 0) }
    }

    @Test func missingFileAndFolder() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanUp() }
        expectCheckpointError("fileNotFound", mentioning: ["nothing.bin", "no such file"]) {
            _ = try MappedFile(path: folder.path("nothing.bin"))
        }
        expectCheckpointError("cannotMap", mentioning: ["not a regular file"]) { _ = try MappedFile(path: folder.url.path) }
    }

    @Test func sharedAcrossThreads() async throws {
        let file = try MappedFile(path: Fixtures.path("quants.gguf"))
        let magic = try await withThrowingTaskGroup(of: UInt32.self) { group in
            for _ in 0..<8 { group.addTask { try file.uint32(at: 0) } }
            return try await group.reduce(into: Set<UInt32>()) { $0.insert($1) }
        }
        #expect(magic == [0x4655_4747])  // "GGUF"
    }
}
