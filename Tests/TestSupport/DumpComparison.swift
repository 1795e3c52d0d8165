import BTF
import Foundation

/// Shared by the dump and round-trip tests: the inputs and a bounded parallel loop.
enum DumpComparison {
    /// Two workers: the machine has two cores, and each worker also drives a bpftool process.
    static let workers = 2

    /// Runs `check` over `items` on `workers` tasks; returns the failure messages (with the item).
    static func forEach(_ items: [String], _ check: @escaping @Sendable (String) throws -> String?) async throws -> [String] {
        try await withThrowingTaskGroup(of: String?.self) { group in
            var pending = items[...]
            var failures: [String] = []
            func next() {
                guard let item = pending.popFirst() else { return }
                group.addTask {
                    do { return try check(item) } catch { return "\(item): \(error)" }
                }
            }
            for _ in 0 ..< workers { next() }
            while let result = try await group.next() {
                if let result { failures.append(result) }
                next()
            }
            return failures
        }
    }

    /// The compiled `bpf/*.bpf.c` objects; none (not a failure) while `bpf/` has no sources yet.
    static func bpfObjects() throws -> [String] {
        let dir = TestSupport.packageRoot + "/bpf"
        let sources = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.filter { $0.hasSuffix(".bpf.c") } ?? []
        if sources.isEmpty {
            print("NOTE: no bpf/*.bpf.c sources yet; BPF object comparisons have nothing to compare")
            return []
        }
        return try compiledObjects.get()
    }

    /// Compiled once per test run: several tests use the objects, concurrently.
    private static let compiledObjects = Result { try TestSupport.compiledBPFObjects() }

    /// An executable product of this package, from the build directory the tests run from.
    static func builtExecutable(_ name: String) throws -> String {
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL { candidates.append(executable.deletingLastPathComponent()) }
        for bundle in Bundle.allBundles { candidates.append(bundle.bundleURL.deletingLastPathComponent()) }
        for dir in candidates {
            let path = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw TestSupportError("\(name) not found beside the test bundle (looked in \(candidates.map(\.path)))")
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? .max
    }

    /// Writes `bytes` to a fresh file in the temporary directory and returns its path.
    static func writeTemporary(_ bytes: [UInt8], name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("btfkit-\(getpid())-\(UInt32.random(in: 0 ... .max))-\(name)").path
        try FileIO.writeAtomically(bytes, to: path)
        return path
    }
}
