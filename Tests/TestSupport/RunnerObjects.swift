import Foundation

/// The BPF programs of `bpf/runner/`: written for btf-run's own tests (program choice, globals,
/// attach kinds). They are kept out of `bpf/*.bpf.c`, which the CO-RE and trimming suites take as
/// their corpus: some have no CO-RE relocation at all, and one program is meant to fail the verifier.
enum RunnerObjects {
    /// `bpf/runner/<name>.bpf.c`, compiled once per test process (`-g -O2 -target bpf`).
    static func compiled(_ name: String) throws -> String {
        guard let path = try objects.get()[name] else { throw TestSupportError("bpf/runner/\(name).bpf.c is missing") }
        return path
    }

    private static let objects = Result<[String: String], any Error> { try compileAll() }

    private static func compileAll() throws -> [String: String] {
        let root = TestSupport.packageRoot + "/bpf"
        let sources = try FileManager.default.contentsOfDirectory(atPath: root + "/runner").filter { $0.hasSuffix(".bpf.c") }.sorted()
        let outDir = TestSupport.cache + "/bpf-runner"
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        var result: [String: String] = [:]
        for source in sources {
            let name = String(source.dropLast(".bpf.c".count))
            let object = outDir + "/\(name).bpf.o"
            let temporary = object + ".tmp-\(getpid())"
            let r = try TestSupport.run("clang", ["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I", root + "/include",
                                                   "-c", root + "/runner/" + source, "-o", temporary])
            guard r.status == 0 else {
                try? FileManager.default.removeItem(atPath: temporary)
                throw TestSupportError("clang failed on bpf/runner/\(source): \(r.stderr)")
            }
            guard rename(temporary, object) == 0 else { throw TestSupportError("cannot rename \(temporary) to \(object)") }
            result[name] = object
        }
        return result
    }
}
