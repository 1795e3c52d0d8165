import BPFLoader
import BTF
import Foundation
@testable import TestSupport
import Testing

/// bpf_printk output streamed from trace_pipe, on a machine where tracefs is not mounted.
@Suite("bpf_printk through trace_pipe", .serialized)
struct TracePipeTests {
    @Test("objects calling bpf_trace_printk are recognised by their call instructions")
    func printkCallsAreFound() throws {
        let hello = try ToolPrograms.object("hello")
        #expect(PrintkUse.calls(in: try ELFFile(parsing: try FileIO.read(hello), file: hello)))
        let syslat = try ToolPrograms.object("syslat")
        #expect(!PrintkUse.calls(in: try ELFFile(parsing: try FileIO.read(syslat), file: syslat)))
    }

    @Test("btf-run mounts tracefs in its own mount namespace and prints the program's bpf_printk lines; --no-trace-pipe does not",
          .enabled(if: ToolPrograms.canLoad, "needs root to load BPF programs (CI runs it as root)"))
    func printkLinesAreStreamed() throws {
        let hello = try ToolPrograms.object("hello")
        let btfRun = try PackFixtures.product("btf-run")
        // A private mount namespace without tracefs or debugfs, as on a fresh machine.
        let script = """
        umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null
        test -e /sys/kernel/tracing/trace_pipe && exit 90
        "$0" "$1" -v --duration 3 $3 > "$2" 2> "$2.err" &
        pid=$!
        i=0
        while ! grep -q "detached\\|streaming events" "$2.err" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
        sleep 0.3
        /bin/true & echo $! > "$2.child"
        wait
        """
        for flag in ["", "--no-trace-pipe"] {
            let output = PackFixtures.temporaryPath("hello-out")
            let run = try TestSupport.run(try TestSupport.which("unshare"), ["-m", "sh", "-c", script, btfRun, hello, output, flag])
            let log = (try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? ""
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            let child = ((try? String(contentsOfFile: output + ".child", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(run.status == 0, "\(log) \(run.stderr)")
            if flag.isEmpty {
                #expect(log.contains("mounted tracefs at /sys/kernel/tracing"), "\(log)")
                #expect(log.contains("a program calls bpf_printk: streaming /sys/kernel/tracing/trace_pipe"), "\(log)")
                #expect(text.contains("bpf_trace_printk: btfkit hello from pid \(child)\n"), "child \(child): \(text.prefix(2000)) \(log)")
            } else {
                #expect(!log.contains("mounted tracefs"), "\(log)")
                #expect(!text.contains("btfkit hello"), "\(text.prefix(2000))")
            }
        }
    }
}
