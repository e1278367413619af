#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation

/// Why a file could not be opened or read; `reason` never quotes the file's content.
public struct FileAccessError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case missing, notRegular, tooLarge, unreadable
    }

    public var path: String
    public var kind: Kind
    public var reason: String

    public var description: String { "\(path): \(reason)" }
}

/// Opening and reading files named by untrusted input (model paths, tokenizer files, Inseq
/// outputs) without trusting what the path names: `open()` of a FIFO blocks until a writer
/// appears, and `read()` of a device never ends, either of which would wedge the daemon's compute
/// thread. Files are opened non-blocking and must be regular files (links to one are followed, as
/// a Hugging Face cache is made of links).
public enum RegularFile {
    /// What is at a path, following links.
    public enum Kind: Sendable { case missing, regularFile, folder, other }

    public static func kind(of path: String) -> Kind {
        var status = stat()
        guard !path.utf8.contains(0), stat(path, &status) == 0 else { return .missing }
        switch status.st_mode & S_IFMT {
        case S_IFREG: return .regularFile
        case S_IFDIR: return .folder
        default: return .other
        }
    }

    /// A read-only descriptor of the regular file at `path`, and its size; the caller closes it.
    public static func open(_ path: String) throws(FileAccessError) -> (descriptor: Int32, size: Int) {
        guard !path.utf8.contains(0) else {
            throw FileAccessError(path: path, kind: .unreadable, reason: "the path contains a NUL byte")
        }
        let descriptor = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if descriptor < 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw FileAccessError(path: path, kind: .missing, reason: "no such file") }
            throw FileAccessError(path: path, kind: .unreadable, reason: String(cString: strerror(code)))
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            close(descriptor)
            throw FileAccessError(path: path, kind: .unreadable, reason: String(cString: strerror(code)))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            let what: String
            switch status.st_mode & S_IFMT {
            case S_IFDIR: what = "a folder"
            case S_IFIFO: what = "a FIFO"
            case S_IFSOCK: what = "a socket"
            case S_IFCHR, S_IFBLK: what = "a device"
            default: what = "a special file"
            }
            throw FileAccessError(path: path, kind: .notRegular, reason: "not a regular file (\(what))")
        }
        return (descriptor, Int(status.st_size))
    }

    /// The whole regular file at `path`, at most `limit` bytes.
    public static func contents(of path: String, limit: Int) throws(FileAccessError) -> Data {
        let (descriptor, size) = try open(path)
        defer { close(descriptor) }
        guard size <= limit else {
            throw FileAccessError(path: path, kind: .tooLarge, reason: "\(size) bytes is more than the \(limit) such a file may have")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var filled = 0
        while filled < size {
            let count = bytes.withUnsafeMutableBytes { buffer in read(descriptor, buffer.baseAddress! + filled, size - filled) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileAccessError(path: path, kind: .unreadable, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }  // the file shrank while being read
            filled += count
        }
        return Data(bytes[..<filled])
    }

    /// As `contents(of:limit:)`, nil when nothing is at `path`.
    public static func contentsIfPresent(of path: String, limit: Int) throws(FileAccessError) -> Data? {
        do {
            return try contents(of: path, limit: limit)
        } catch where error.kind == .missing {
            return nil
        }
    }
}
