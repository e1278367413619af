#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation

/// Reads the small files of a checkpoint folder (config.json, generation_config.json) without
/// trusting what the path names: a FIFO or a device would block `open` or `read` forever and
/// wedge the daemon's compute queue, so files are opened non-blocking and must be regular.
enum RegularFile {
    /// What is at a path, following links (a Hugging Face cache links every file).
    enum Kind { case missing, regularFile, folder, other }

    static func kind(of path: String) -> Kind {
        var status = stat()
        guard stat(path, &status) == 0 else { return .missing }
        switch status.st_mode & S_IFMT {
        case S_IFREG: return .regularFile
        case S_IFDIR: return .folder
        default: return .other
        }
    }

    /// Throws unless `path` is missing or a regular file (callers decide whether missing is fine).
    static func requireRegularOrMissing(_ path: String) throws {
        if kind(of: path) == .other {
            throw ModelError.invalidConfiguration("\(path) is not a regular file")
        }
    }

    /// The contents of the regular file at `path`, or nil when nothing is there.
    /// - Throws: `ModelError.invalidConfiguration` for anything but a regular file, a file over
    ///   `limit` bytes, or a read error.
    static func contents(_ path: String, limit: Int = 16 << 20) throws -> Data? {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw ModelError.invalidConfiguration("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw ModelError.invalidConfiguration("\(path) is not a regular file")
        }
        let size = Int(status.st_size)
        guard size <= limit else {
            throw ModelError.invalidConfiguration("\(path) is \(size) bytes, more than the \(limit) such a file may have")
        }
        var data = Data(count: size)
        var filled = 0
        while filled < size {
            let count = data.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + filled, size - filled) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                if count == 0 { break }  // the file shrank while being read
                throw ModelError.invalidConfiguration("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            filled += count
        }
        return data.prefix(filled)
    }
}
