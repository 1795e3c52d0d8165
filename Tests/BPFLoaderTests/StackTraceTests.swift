import BPFLoader
import Foundation
@testable import TestSupport
import Testing

/// Stack ids in a printed map shown as named stacks (bcc's profile layout).
@Suite("Stack traces")
struct StackTraceTests {
    @Test("kernel addresses are named from a kallsyms file: the symbol at or below, with the offset")
    func kallsymsLookup() throws {
        let path = PackFixtures.temporaryPath("kallsyms")
        try """
        ffffffff81000000 T _stext
        ffffffff81000100 t helper_one\t[somemodule]
        ffffffff81000200 D some_data
        ffffffff81000300 W weak_one
        0000000000000000 T hidden
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let symbols = KernelSymbols(path: path)
        #expect(symbols.name(of: 0xffffffff81000000) == "_stext+0x0")
        #expect(symbols.name(of: 0xffffffff81000150) == "helper_one+0x50")
        #expect(symbols.name(of: 0xffffffff81000250) == "helper_one+0x150", "data symbols are not code")
        #expect(symbols.name(of: 0xffffffff81000301) == "weak_one+0x1")
        #expect(symbols.name(of: 0xffffffff80000000) == "0xffffffff80000000")
    }

    @Test("btf-run names the kernel stacks of a profile-like map from /proc/kallsyms",
          .enabled(if: ToolPrograms.canLoad, "needs root to load BPF programs (CI runs it as root)"))
    func profileStacks() throws {
        let path = try ToolPrograms.object("stacks")
        let btfRun = try PackFixtures.product("btf-run")
        let script = """
        "$0" "$1" --duration 2 --json > "$2" &
        for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.1; cat /etc/hostname > /dev/null; done
        wait
        """
        let output = PackFixtures.temporaryPath("stacks-out")
        let run = try TestSupport.run("/bin/sh", ["-c", script, btfRun, path, output])
        #expect(run.status == 0, "\(run.stderr)")
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        let document = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text.prefix(2000))")
        let maps = (document["maps"] as? [[String: Any]]) ?? []
        #expect(maps.compactMap { $0["map"] as? String } == ["counts"], "the stack map itself is not printed")
        let rows = (maps.first?["rows"] as? [[String: Any]]) ?? []
        let cats = rows.filter { $0["name"] as? String == "cat" }
        #expect(!cats.isEmpty, "\(text.prefix(2000))")
        let symbolic = try Regex("^[A-Za-z0-9_.$]+\\+0x[0-9a-f]+$")
        // A stack id may be an error (a full or colliding stack map): those rows have no frames.
        let stacks = cats.compactMap { $0["kern_stack_id_frames"] as? [String] }
        #expect(stacks.contains { $0.contains { $0.hasPrefix("do_syscall_64+0x") } }, "\(cats)")
        for frames in stacks {
            #expect(frames.allSatisfy { $0.wholeMatch(of: symbolic) != nil }, "\(frames)")
        }
        for row in cats where row["kern_stack_id_frames"] == nil {
            #expect((row["kern_stack_id"] as? Int).map { $0 < 0 } == true, "a valid stack id without frames: \(row)")
        }
    }
}
