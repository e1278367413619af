import Foundation

/// Keeps the protocol channel clean: the real standard output is duplicated for protocol use and
/// descriptor 1 is pointed at standard error, so a stray `print` from any library lands in the log.
public enum StandardOutputGuard {
    /// - Returns: the descriptor that now reaches the original standard output.
    /// - Throws: `POSIXError` if the descriptors cannot be duplicated.
    public static func claimStandardOutput() throws -> Int32 {
        fflush(nil)  // all streams: whatever was printed before goes out before the switch
        let protocolDescriptor = dup(STDOUT_FILENO)
        guard protocolDescriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EBADF) }
        _ = fcntl(protocolDescriptor, F_SETFD, FD_CLOEXEC)
        guard dup2(STDERR_FILENO, STDOUT_FILENO) >= 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EBADF)
        }
        // A client that goes away must not kill the daemon mid-write: writes then fail with EPIPE.
        signal(SIGPIPE, SIG_IGN)
        return protocolDescriptor
    }
}
