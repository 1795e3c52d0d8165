import BTF
import Glibc

/// `bpf_printk` output: the lines programs write with `bpf_trace_printk`/`bpf_trace_vprintk`
/// land in tracefs's `trace_pipe`, which btf-run streams while the programs run.
public enum PrintkUse {
    /// BPF_FUNC_trace_printk and BPF_FUNC_trace_vprintk.
    static let helpers: Set<UInt32> = [6, 177]

    /// Whether a program of `elf` calls one of the printk helpers: a `call` instruction
    /// (BPF_JMP|BPF_CALL, source register 0: a helper, not a subprogram or kfunc) with its id.
    public static func calls(in elf: ELFFile) -> Bool {
        for section in elf.sections where section.flags & 0x4 != 0 {  // SHF_EXECINSTR: program code
            guard let code = try? elf.contents(of: section) else { continue }
            let reader = ByteReader(code, byteOrder: elf.byteOrder)
            var at = 0
            while at + 8 <= reader.count {
                if reader.get(UInt8.self, at: at) == 0x85, let registers = reader.get(UInt8.self, at: at + 1),
                   (elf.byteOrder == .little ? registers >> 4 : registers & 0xf) == 0,
                   let helper = reader.get(UInt32.self, at: at + 4), helpers.contains(helper) {
                    return true
                }
                at += 8
            }
        }
        return false
    }
}

/// Reads tracefs's `trace_pipe` without blocking and hands out whole lines.
public final class TracePipe {
    private let fd: Int32
    private var partial: [UInt8] = []
    /// The file read.
    public let path: String

    /// Opens `trace_pipe` under `tracefs` (non-blocking: `drain` returns what is there).
    public init(tracefs: String = Tracefs.mountPoint) throws(BPFLoaderError) {
        path = tracefs + "/trace_pipe"
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw BPFLoaderError("cannot open \(path) to show bpf_printk output: \(errnoText(code))", errnoCode: code, remedy: .disableTracePipe)
        }
    }

    deinit { close(fd) }

    /// The complete lines written since the last call (without their newlines).
    public func drain() -> [String] {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            partial += buffer.prefix(count)
        }
        guard let lastNewline = partial.lastIndex(of: 10) else { return [] }
        let complete = partial[..<lastNewline]
        partial.removeSubrange(...lastNewline)
        return complete.split(separator: 10, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }
}
