#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation

/// A private temporary folder for the targets that parse files: one per process, removed at exit.
enum Scratch {
    static let root: String = {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let path = "\(base)/seqlens-fuzz-\(getpid())"
        mkdir(path, 0o700)
        atexit { try? FileManager.default.removeItem(atPath: Scratch.root) }
        return path
    }()

    /// A folder under the root, created on first use.
    static func folder(_ name: String) -> String {
        let path = root + "/" + name
        mkdir(path, 0o700)
        return path
    }

    /// Writes `bytes` to `name` under the root and returns the path. The file is written beside
    /// and renamed into place, so that a mapping still open from the previous input keeps its own
    /// bytes (truncating a mapped file would make its reader fault).
    @discardableResult
    static func write(_ bytes: UnsafeRawBufferPointer, as name: String) -> String {
        let path = root + "/" + name
        let staging = path + ".new"
        let fd = open(staging, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { fatalError("seqlens-fuzz: cannot write \(staging): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < bytes.count, let base = bytes.baseAddress {
            let written = writeBytes(fd, base + offset, bytes.count - offset)
            guard written > 0 else { fatalError("seqlens-fuzz: short write to \(staging)") }
            offset += written
        }
        close(fd)
        rename(staging, path)
        return path
    }

    /// Copies the file at `source` to `path` unless it is already there.
    static func copyOnce(_ source: String, to path: String) {
        guard access(path, F_OK) != 0 else { return }
        guard (try? FileManager.default.copyItem(atPath: source, toPath: path)) != nil else {
            fatalError("seqlens-fuzz: cannot copy the fixture \(source)")
        }
    }
}

/// `write(2)`, under a name that `Scratch.write` does not shadow.
private func writeBytes(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
