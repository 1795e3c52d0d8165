import BTF
import Glibc

/// Standard-error output of a sweep: a progress line redrawn in place when stderr is a terminal
/// (`[12/85] centos/8/x86_64/4.18.0-147...`), failures as they happen, the summary at the end.
/// Used from one task at a time (the sweep's progress callback runs on the caller's task).
public struct SweepConsole {
    /// Whether standard error is a terminal; only then is a progress line drawn.
    public let isTerminal: Bool
    private var progressShown = false

    public init(isTerminal: Bool = isatty(2) == 1) {
        self.isTerminal = isTerminal
    }

    /// Shows one finished kernel: a failure as a line that stays, success only on the progress line.
    public mutating func show(_ progress: SweepProgress) {
        if let failure = progress.result.failure {
            print("error: " + escapedForTerminal("\(progress.result.inputPath): \(SweepConsole.withoutPathPrefix(failure, progress.result.inputPath))"))
        }
        guard isTerminal else { return }
        var line = "[\(progress.completed)/\(progress.total)] \(escapedForTerminal(progress.result.name))"
        // Keep it on one line of a standard-width terminal so \r redraws it cleanly.
        if line.count > 79 { line = String(line.prefix(76)) + "..." }
        write("\r\u{1B}[K" + line)
        progressShown = true
    }

    /// Prints a line to standard error, clearing the progress line first.
    public mutating func print(_ line: String) {
        write(clearProgress() + line + "\n")
    }

    private mutating func clearProgress() -> String {
        guard progressShown else { return "" }
        progressShown = false
        return "\r\u{1B}[K"
    }

    private func write(_ text: String) {
        try? writeAll(2, Array(text.utf8))
    }

    /// Errors usually start with the file they are about; the console already printed it.
    static func withoutPathPrefix(_ message: String, _ path: String) -> String {
        message.hasPrefix(path + ": ") ? String(message.dropFirst(path.count + 2)) : message
    }
}
