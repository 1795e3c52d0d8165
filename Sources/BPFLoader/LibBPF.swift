import BTFRuntime
import CLibBPF
import Synchronization
import Glibc

/// libbpf's log, captured: every line libbpf prints goes through `LibBPFLog.record`, is kept (the
/// last few hundred lines) so that an error can quote libbpf's explanation, and is echoed to
/// standard error at or above `echoLevel`.
public enum LibBPFLog {
    /// How much of libbpf's log reaches standard error.
    public enum Level: Int, Sendable, Comparable {
        /// `LIBBPF_WARN`.
        case warning = 0
        /// `LIBBPF_INFO`.
        case info = 1
        /// `LIBBPF_DEBUG`.
        case debug = 2

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    struct State {
        var lines: [String] = []
        /// How many lines were dropped from the front of `lines` (so marks stay valid).
        var dropped = 0
        var echoLevel: Level? = nil
    }

    static let state = Mutex(State())
    static let keptLines = 400

    /// Routes libbpf's log through this type; lines at `echoLevel` or more important are also
    /// written to standard error (`nil`: none).
    public static func install(echoLevel: Level?) {
        state.withLock { $0.echoLevel = echoLevel }
        _ = libbpf_set_print { level, format, arguments in
            guard let format, let arguments else { return 0 }
            var buffer = [CChar](repeating: 0, count: 1024)
            let count = buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, arguments) }
            guard count >= 0 else { return 0 }
            let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            LibBPFLog.record(text, level: Level(rawValue: Int(level.rawValue)) ?? .debug)
            return count
        }
    }

    static func record(_ text: String, level: Level) {
        let echo = state.withLock { state -> Bool in
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                state.lines.append(String(line))
            }
            if state.lines.count > keptLines {
                let excess = state.lines.count - keptLines
                state.lines.removeFirst(excess)
                state.dropped += excess
            }
            return state.echoLevel.map { level <= $0 } ?? false
        }
        if echo {
            let line = Array((text.hasSuffix("\n") ? text : text + "\n").utf8)
            _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        }
    }

    /// A mark to pass to `lines(since:)`.
    static var mark: Int { state.withLock { $0.dropped + $0.lines.count } }

    /// The lines libbpf printed since `mark` (those still kept).
    static func lines(since mark: Int) -> [String] {
        state.withLock { state in Array(state.lines[min(max(0, mark - state.dropped), state.lines.count)...]) }
    }

    /// libbpf's last lines since `mark` that explain a failure, joined for a message ("" when none).
    static func explanation(since mark: Int, limit: Int = 3) -> String {
        let lines = lines(since: mark).map { $0.hasPrefix("libbpf: ") ? String($0.dropFirst(8)) : $0 }
        return lines.suffix(limit).joined(separator: "; ")
    }
}


extension RuntimeBTF {
    /// Sets `opts.btf_custom_path` to `customPath` (or to `NULL` when the kernel's own BTF is
    /// used). The string stays valid as long as this object does.
    public func apply(to opts: UnsafeMutablePointer<bpf_object_open_opts>) {
        opts.pointee.btf_custom_path = UnsafePointer(customPathCString)
    }
}
