#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation

/// A file that SeqLens is allowed to write: an absolute path without NUL bytes, inside an
/// optional root folder, whose last component is not a symbolic link or anything but a regular
/// file.
///
/// Writing goes to a temporary file in the same folder, which is then renamed into place, so a
/// reader never sees half a file and a link planted at the final component is never followed. The
/// folders above the file may be links (a home folder often is); with a root, the folder's
/// resolved path must still lie inside the root's resolved path.
public struct OutputFile: Sendable, Equatable {
    /// The absolute path the file will have.
    public let path: String
    /// The resolved root folder the file must stay in, if any.
    public let root: String?

    /// Checks `given` before any work is done, so that a bad path fails fast.
    /// - Parameters:
    ///   - given: the path as the user wrote it.
    ///   - root: with a root, a relative `given` is taken relative to it and the result must lie in it;
    ///     without one, `given` must be absolute (callers with a working directory resolve first).
    ///   - overwrite: whether an existing regular file may be replaced.
    public init(_ given: String, root: String? = nil, overwrite: Bool) throws(AttributionOutputError) {
        guard !given.isEmpty else { throw .fileAccess(path: given, reason: "the path is empty") }
        guard !given.utf8.contains(0) else {
            throw .fileAccess(path: Self.printable(given), reason: "the path contains a NUL byte")
        }
        var resolvedRoot: String?
        if let root {
            guard let real = Self.realPath(root) else {
                throw .fileAccess(path: root, reason: "the save root does not exist")
            }
            resolvedRoot = real
        }
        let absolute: String
        if given.hasPrefix("/") {
            absolute = given
        } else if let resolvedRoot {
            absolute = resolvedRoot + "/" + given
        } else {
            throw .fileAccess(path: given, reason: "the path is relative; give an absolute path")
        }
        let normalized = Self.lexicallyNormalized(absolute)
        var components = normalized.split(separator: "/").map(String.init)
        guard !normalized.hasSuffix("/"), let last = components.popLast() else {
            throw .fileAccess(path: given, reason: "the path names a folder, not a file")
        }
        path = normalized
        folder = "/" + components.joined(separator: "/")
        name = last
        self.root = resolvedRoot
        try checkDestination(overwrite: overwrite)
    }

    /// The folder the file goes in, and the file's name in it.
    let folder: String
    let name: String

    /// Writes `data`, replacing an existing regular file only when `overwrite`.
    public func write(_ data: Data, overwrite: Bool) throws(AttributionOutputError) {
        let directory = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw failure("cannot open its folder", errno) }
        defer { close(directory) }
        try checkDestination(overwrite: overwrite, in: directory)
        let temporary = ".\(name).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).part"
        let descriptor = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure("cannot create a file in its folder", errno) }
        var written = 0
        let total = data.count
        let writeError: Int32? = data.withUnsafeBytes { bytes -> Int32? in
            while written < total {
                let count = Glibc.write(descriptor, bytes.baseAddress! + written, total - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += count
            }
            return fsync(descriptor) == 0 ? nil : errno
        }
        close(descriptor)
        if let writeError {
            unlinkat(directory, temporary, 0)
            throw failure("writing failed", writeError)
        }
        if overwrite {
            guard renameat(directory, temporary, directory, name) == 0 else {
                let code = errno
                unlinkat(directory, temporary, 0)
                throw failure("cannot move the written file into place", code)
            }
        } else {
            // link(2) fails if the name exists, where rename would silently replace it.
            let linked = linkat(directory, temporary, directory, name, 0) == 0
            let code = errno
            unlinkat(directory, temporary, 0)
            guard linked else {
                if code == EEXIST { throw .fileExists(path: path) }
                throw failure("cannot move the written file into place", code)
            }
        }
    }

    /// Refuses a final component that is a link or not a regular file, an existing file without
    /// `overwrite`, and a folder outside the root.
    private func checkDestination(overwrite: Bool, in directory: Int32? = nil) throws(AttributionOutputError) {
        if let root {
            guard let realFolder = Self.realPath(folder) else {
                throw .fileAccess(path: path, reason: "its folder does not exist")
            }
            guard realFolder == root || realFolder.hasPrefix(root == "/" ? "/" : root + "/") else {
                throw .fileAccess(path: path, reason: "it is outside the save root \(root)")
            }
        }
        var status = stat()
        let found: Bool
        if let directory {
            found = fstatat(directory, name, &status, AT_SYMLINK_NOFOLLOW) == 0
        } else {
            var folderStatus = stat()
            guard stat(folder, &folderStatus) == 0, (folderStatus.st_mode & S_IFMT) == S_IFDIR else {
                throw .fileAccess(path: path, reason: "its folder does not exist")
            }
            found = lstat(path, &status) == 0
        }
        guard found else { return }
        switch status.st_mode & S_IFMT {
        case S_IFLNK: throw .fileAccess(path: path, reason: "it is a symbolic link; SeqLens does not write through links")
        case S_IFREG: if !overwrite { throw .fileExists(path: path) }
        case S_IFDIR: throw .fileAccess(path: path, reason: "it is a folder")
        default: throw .fileAccess(path: path, reason: "it exists and is not a regular file")
        }
    }

    private func failure(_ what: String, _ code: Int32) -> AttributionOutputError {
        .fileAccess(path: path, reason: "\(what): \(String(cString: strerror(code)))")
    }

    /// `.` and `..` components removed without touching the file system (so `..` cannot climb
    /// out of a root through a link).
    static func lexicallyNormalized(_ absolute: String) -> String {
        var parts: [Substring] = []
        for part in absolute.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/") + (absolute.hasSuffix("/") && !parts.isEmpty ? "/" : "")
    }

    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// A path with its NUL bytes shown as \0, for messages.
    static func printable(_ path: String) -> String { path.replacingOccurrences(of: "\u{0}", with: "\\0") }
}
