#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation
import SeqLensFiles

#if _endian(big)
    #error("SeqLensCheckpoints reads little-endian files with native loads; big-endian hosts are not supported")
#endif

/// A read-only memory map of a whole file, with bounds-checked little-endian reads.
///
/// Every read checks its range against the file size and throws `CheckpointError.truncated`
/// (naming the file and offset) instead of reading past the end. The mapping is immutable and
/// lives until the last reference goes away, so the object is safe to share between threads.
public final class MappedFile: @unchecked Sendable {
    /// The path the file was opened with.
    public let path: String
    /// The file's size in bytes.
    public let size: Int
    // nil only for an empty file, which cannot be mapped.
    private let base: UnsafeRawPointer?

    /// Maps the file at `path`.
    ///
    /// The file is opened non-blocking, so that a FIFO or a device cannot hold the caller in
    /// `open()`; anything but a regular file is then refused (symbolic links to one are followed,
    /// as in Hugging Face's cache).
    /// - Throws: `CheckpointError.fileNotFound` when nothing is there, `.cannotMap` when it is a
    ///   folder, a FIFO or another special file, unreadable, or the mapping fails.
    public init(path: String) throws {
        self.path = path
        let fd: Int32
        do {
            (fd, size) = try RegularFile.open(path)
        } catch where error.kind == .missing {
            throw CheckpointError.fileNotFound(path: path)
        } catch {
            throw CheckpointError.cannotMap(path: path, reason: error.reason)
        }
        defer { close(fd) }
        if size == 0 {
            base = nil
            return
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw CheckpointError.cannotMap(path: path, reason: String(cString: strerror(errno)))
        }
        base = UnsafeRawPointer(mapped)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// Lets the kernel drop the resident pages behind `count` bytes at `offset` (rounded out to
    /// whole pages). Nothing changes for readers: a later read faults the pages in again. Called
    /// once a tensor has been converted to Float32, so that loading does not hold the file's
    /// pages and the converted copy in memory at once.
    public func dropPages(offset: Int, count: Int) {
        guard let base, count > 0, offset >= 0, offset < size else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page, end = min(size, offset + count)
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    /// Throws unless `count` bytes starting at `offset` lie inside the file.
    @inline(__always)
    public func checkRange(offset: Int, count: Int) throws {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw CheckpointError.truncated(path: path, offset: offset, length: count, fileSize: size)
        }
    }

    /// A pointer to `count` bytes at `offset`, valid as long as this object lives.
    /// - Throws: `CheckpointError.truncated` when the range leaves the file.
    public func bytes(at offset: Int, count: Int) throws -> UnsafeRawBufferPointer {
        try checkRange(offset: offset, count: count)
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + offset, count: count)
    }

    /// A copy of `count` bytes at `offset`.
    public func data(at offset: Int, count: Int) throws -> Data {
        Data(try bytes(at: offset, count: count))
    }

    @inline(__always)
    private func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) throws -> T {
        try checkRange(offset: offset, count: MemoryLayout<T>.size)
        // checkRange guarantees a non-empty file here, so base is set.
        guard let base else { throw CheckpointError.truncated(path: path, offset: offset, length: MemoryLayout<T>.size, fileSize: size) }
        return T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    public func uint8(at offset: Int) throws -> UInt8 { try load(UInt8.self, at: offset) }
    public func int8(at offset: Int) throws -> Int8 { try load(Int8.self, at: offset) }
    public func uint16(at offset: Int) throws -> UInt16 { try load(UInt16.self, at: offset) }
    public func int16(at offset: Int) throws -> Int16 { try load(Int16.self, at: offset) }
    public func uint32(at offset: Int) throws -> UInt32 { try load(UInt32.self, at: offset) }
    public func int32(at offset: Int) throws -> Int32 { try load(Int32.self, at: offset) }
    public func uint64(at offset: Int) throws -> UInt64 { try load(UInt64.self, at: offset) }
    public func int64(at offset: Int) throws -> Int64 { try load(Int64.self, at: offset) }
    /// A little-endian IEEE binary32 value.
    public func float(at offset: Int) throws -> Float { Float(bitPattern: try uint32(at: offset)) }
    /// A little-endian IEEE binary64 value.
    public func double(at offset: Int) throws -> Double { Double(bitPattern: try uint64(at: offset)) }
    /// A little-endian IEEE binary16 value, widened exactly to Float.
    public func float16(at offset: Int) throws -> Float { HalfFloat.toFloat(try uint16(at: offset)) }

    /// `byteCount` bytes at `offset` decoded as UTF-8.
    /// - Throws: `.truncated` past the end, `.invalidUTF8` when the bytes are not UTF-8.
    public func string(at offset: Int, byteCount: Int) throws -> String {
        let raw = try bytes(at: offset, count: byteCount)
        // Decoding replaces invalid sequences with U+FFFD, which changes the bytes.
        let text = String(decoding: raw, as: UTF8.self)
        guard text.utf8.elementsEqual(raw) else {
            throw CheckpointError.invalidUTF8(path: path, offset: offset)
        }
        return text
    }

    /// `byteCount` bytes at `offset` decoded as UTF-8, replacing invalid sequences with U+FFFD.
    public func lenientString(at offset: Int, byteCount: Int) throws -> String {
        String(decoding: try bytes(at: offset, count: byteCount), as: UTF8.self)
    }
}

/// A forward-only reader over a `MappedFile`, used to walk a header field by field.
struct ByteCursor {
    let file: MappedFile
    var offset: Int

    /// Bytes left between the cursor and the end of the file.
    var remaining: Int { file.size - offset }

    mutating func uint8() throws -> UInt8 { defer { offset += 1 }; return try file.uint8(at: offset) }
    mutating func int8() throws -> Int8 { defer { offset += 1 }; return try file.int8(at: offset) }
    mutating func uint16() throws -> UInt16 { defer { offset += 2 }; return try file.uint16(at: offset) }
    mutating func int16() throws -> Int16 { defer { offset += 2 }; return try file.int16(at: offset) }
    mutating func uint32() throws -> UInt32 { defer { offset += 4 }; return try file.uint32(at: offset) }
    mutating func int32() throws -> Int32 { defer { offset += 4 }; return try file.int32(at: offset) }
    mutating func uint64() throws -> UInt64 { defer { offset += 8 }; return try file.uint64(at: offset) }
    mutating func int64() throws -> Int64 { defer { offset += 8 }; return try file.int64(at: offset) }
    mutating func float() throws -> Float { defer { offset += 4 }; return try file.float(at: offset) }
    mutating func double() throws -> Double { defer { offset += 8 }; return try file.double(at: offset) }
}
