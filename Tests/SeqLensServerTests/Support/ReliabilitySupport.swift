import Foundation
import SeqLensModels
import SeqLensServer
import Testing

/// The engine's seeded generator, so that a failing reliability run can be replayed.
typealias SeededGenerator = SplitMix64

extension DaemonProcess {
    var pid: Int32 { process.processIdentifier }
    var isAlive: Bool { process.isRunning }

    /// VmRSS of the daemon from /proc/<pid>/status, in bytes; nil if unreadable (not Linux, exited).
    var residentBytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kilobytes = Int(fields[1]) { return kilobytes * 1024 }
        }
        return nil
    }

    /// The last `count` characters of standard error (for reports of a crash).
    func standardErrorTail(_ count: Int = 1500) -> String {
        let text = standardError
        return text.count <= count ? text : "..." + String(text.suffix(count))
    }
}

/// Counts of outcomes by kind, printed as one line for a CI log.
struct OutcomeTally {
    private(set) var counts: [String: Int] = [:]
    mutating func add(_ kind: String, _ count: Int = 1) { counts[kind, default: 0] += count }
    subscript(kind: String) -> Int { counts[kind] ?? 0 }
    var total: Int { counts.values.reduce(0, +) }
    var line: String { counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") }
}

/// Whether a message is a well-formed JSON-RPC 2.0 response: jsonrpc "2.0", an id (integer, string or
/// null), and exactly one of result / error, an error having an integer code and a non-empty message.
func responseProblems(_ message: RPCValue) -> String? {
    guard case .object(let members) = message else { return "not an object" }
    if members["unparsable"] != nil || members["brokenFrameFromServer"] != nil { return "not a well-formed frame: \(message)" }
    guard members["jsonrpc"] == "2.0" else { return "jsonrpc is not \"2.0\"" }
    if members["method"] != nil { return nil }  // a notification ($/progress)
    switch members["id"] {
    case .integer?, .string?, .null?: break
    default: return "response id missing or of the wrong type"
    }
    let hasResult = members["result"] != nil, error = members["error"]
    guard hasResult != (error != nil) else { return "a response needs exactly one of result and error" }
    if let error {
        guard error["code"]?.intValue != nil else { return "error without an integer code" }
        guard let text = error["message"]?.stringValue, !text.isEmpty else { return "error without a message" }
    }
    let allowed: Set<String> = ["jsonrpc", "id", "result", "error"]
    if let extra = members.keys.first(where: { !allowed.contains($0) }) { return "unexpected member '\(extra)'" }
    return nil
}
