#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation

/// Reads a whole tokenizer file, refusing anything that is not a regular file.
///
/// `Data(contentsOf:)` opens with a blocking `open()`, so a FIFO named `tokenizer.json` would hold
/// the caller (the daemon's compute thread) until some writer appeared. Here the file is opened
/// non-blocking and checked with `fstat` before a byte is read.
enum RegularFile {
    /// Files larger than this are refused: real tokenizer files are tens of megabytes at most.
    static let maximumBytes = 1 << 30

    /// The bytes of the file at `path`.
    /// - Throws: `TokenizerError.unreadableFile` naming what is wrong.
    static func contents(of path: String) throws -> Data {
        func failure(_ reason: String) -> TokenizerError { .unreadableFile(path: path, reason: reason) }
        guard !path.utf8.contains(0) else { throw failure("the path contains a NUL byte") }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            throw failure(code == ENOENT || code == ENOTDIR ? "no such file" : String(cString: strerror(code)))
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw failure(String(cString: strerror(errno))) }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            let kind: String
            switch status.st_mode & S_IFMT {
            case S_IFDIR: kind = "a folder"
            case S_IFIFO: kind = "a FIFO"
            case S_IFSOCK: kind = "a socket"
            case S_IFCHR, S_IFBLK: kind = "a device"
            default: kind = "a special file"
            }
            throw failure("not a regular file (\(kind))")
        }
        let size = Int(status.st_size)
        guard size <= maximumBytes else {
            throw failure("\(size) bytes is larger than the \(maximumBytes)-byte limit for a tokenizer file")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var filled = 0
        while filled < size {
            let count = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return read(fd, base + filled, size - filled)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure(String(cString: strerror(errno)))
            }
            if count == 0 { break }  // the file shrank while being read
            filled += count
        }
        return Data(bytes[..<filled])
    }
}
