import Foundation

/// The programs of bpf/tools (libbpf-tools-shaped test programs), compiled once per test process.
enum ToolPrograms {
    static func object(_ name: String) throws -> String {
        let directory = TestSupport.cache + "/bpf-tools"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let object = directory + "/\(name).bpf.o"
        let temporary = object + ".tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let bpf = TestSupport.packageRoot + "/bpf"
        let compiled = try TestSupport.run("clang", ["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I", bpf + "/include", "-I", bpf + "/tools",
                                                     "-c", bpf + "/tools/\(name).bpf.c", "-o", temporary])
        guard compiled.status == 0 else { throw TestSupportError("clang failed on bpf/tools/\(name).bpf.c: \(compiled.stderr)") }
        guard rename(temporary, object) == 0 else { throw TestSupportError("cannot rename \(temporary)") }
        return object
    }

    /// Root tests run when root, and always under CI (where not being root is then a failure).
    static var canLoad: Bool { TestSupport.isCI || TestSupport.isRoot }

    /// Runs `btf-run OBJECT ARGUMENTS...` in the background, waits until it says it is streaming
    /// events, runs the shell command `action`, and waits for btf-run to end (give it --duration).
    /// Returns its exit status, its standard error and its standard output split into JSON documents.
    /// `runner` given: runs it (a `btf-pack runner` tool, object embedded) instead of btf-run and `object`.
    static func runWhileStreaming(_ object: String, _ arguments: [String], action: String, name: String, runner: String? = nil) throws
        -> (status: Int32, log: String, documents: [[String: Any]]) {
        let script = """
        out=$1; shift
        "$@" > "$out" 2> "$out.err" &
        pid=$!
        i=0
        while ! grep -q "streaming events" "$out.err" && kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
        \(action)
        wait $pid
        """
        let output = PackFixtures.temporaryPath(name + "-out")
        let run = try TestSupport.run("/bin/sh", ["-c", script, "sh", output] + (runner.map { [$0] } ?? [try PackFixtures.product("btf-run"), object]) + arguments)
        let log = ((try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? "") + run.stderr
        let documents = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        return (run.status, log, documents)
    }
}
