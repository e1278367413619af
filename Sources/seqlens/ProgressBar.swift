import Foundation
import SeqLensAttribution

/// A one-line progress bar on standard error, redrawn in place (`\r`), for long attributions.
/// Drawn only when standard error is a terminal, or when asked for; redrawn at most every 50 ms
/// so that thousands of passes do not flood the terminal.
final class ProgressBar {
    private let width = 30
    private var lastDraw = Date.distantPast
    private var drawn = false

    static func shouldDraw(forced: Bool) -> Bool { forced || isatty(STDERR_FILENO) != 0 }

    func update(_ progress: AttributionProgress) {
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.05 else { return }
        lastDraw = now
        draw(fraction: progress.fraction, detail: Self.describe(progress))
    }

    func finish() {
        guard drawn else { return }
        draw(fraction: 1, detail: "done")
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(fraction: Double, detail: String) {
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "█", count: min(width, filled)) + String(repeating: "·", count: max(0, width - filled))
        let line = "\r\(bar) \(String(format: "%3d", Int((fraction * 100).rounded(.down))))% \(detail)\u{1B}[K"
        FileHandle.standardError.write(Data(line.utf8))
        drawn = true
    }

    static func describe(_ progress: AttributionProgress) -> String {
        let sequence = "sequence \(progress.sequence + 1)/\(progress.sequences)"
        switch progress.phase {
        case .generating(let token, let total): return "\(sequence): generating token \(token)/\(total)"
        case .attributing(let pass, let total): return "\(sequence): pass \(pass)/\(total)"
        }
    }
}
