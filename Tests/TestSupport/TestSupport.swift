import BTF
import Foundation
import Testing

/// Where the test data lives and how to reach the reference tools. Shared by all test files.
enum TestSupport {
    /// The package root (this file is Tests/TestSupport/TestSupport.swift).
    static let packageRoot: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()

    /// `../shared/btfhub-archive` beside the checkout (override: BTFKIT_SHARED_ARCHIVE).
    static let sharedArchive: String = ProcessInfo.processInfo.environment["BTFKIT_SHARED_ARCHIVE"]
        ?? URL(fileURLWithPath: packageRoot).deletingLastPathComponent().appendingPathComponent("shared/btfhub-archive").path

    static let fixtures = packageRoot + "/btfhub-fixtures"
    /// Scratch space for extracted kernels and compiled objects, kept between runs.
    static let cache = packageRoot + "/.build/test-cache"

    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
    static var isRoot: Bool { getuid() == 0 }

    static var hasSharedArchive: Bool { FileManager.default.fileExists(atPath: sharedArchive) }

    /// Whether `../shared/btfhub-archive` is present, for tests that use it when it is there and
    /// do without it otherwise. Under CI=true its absence is a failure.
    static func sharedArchiveAvailable() -> Bool {
        if hasSharedArchive { return true }
        if isCI { Issue.record("../shared/btfhub-archive is missing at \(sharedArchive); CI must have it") }
        return false
    }

    /// For a test marked `.requiresSharedArchive`: throws (failing the test) when the archive is
    /// missing, which only happens under CI=true, where the trait does not skip.
    static func requireSharedArchive() throws {
        guard hasSharedArchive else { throw TestSupportError("../shared/btfhub-archive is missing at \(sharedArchive); CI must have it") }
    }

    /// A part of a test that cannot run here (the rest of the test does): said on standard output,
    /// and a failure under CI=true.
    static func skipPart(_ why: String) {
        if isCI { Issue.record("\(why); CI must have it") } else { print("SKIPPED (part of a test): \(why)") }
    }

    /// For a test marked `.requiresRoot`: throws (failing the test) when not root, which only
    /// happens under CI=true, where the trait does not skip.
    static func requireRoot(_ why: String = "it loads BPF or BTF into the kernel") throws {
        guard isRoot else { throw TestSupportError("this test needs root (\(why)); CI must run the tests as root") }
    }

    /// Runs a program, returning its exit status and standard output (standard error is captured too).
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], stdoutPath: String? = nil) throws -> (status: Int32, stdout: Data, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : try which(executable))
        process.arguments = arguments
        let errPipe = Pipe()
        process.standardError = errPipe
        let outPipe = Pipe()
        if let stdoutPath {
            _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
            process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        } else {
            process.standardOutput = outPipe
        }
        try process.run()
        // Read both pipes concurrently so neither fills up and blocks the child.
        let errData = LockedData()
        let errThread = Thread { errData.set(errPipe.fileHandleForReading.readDataToEndOfFile()) }
        errThread.start()
        let out = stdoutPath == nil ? outPipe.fileHandleForReading.readDataToEndOfFile() : Data()
        process.waitUntilExit()
        while !errData.isSet { usleep(1000) }
        return (process.terminationStatus, out, String(decoding: errData.get(), as: UTF8.self))
    }

    static func which(_ name: String) throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        for path in ["/usr/sbin/\(name)", "/sbin/\(name)"] where FileManager.default.isExecutableFile(atPath: path) { return path }
        throw TestSupportError("\(name) not found on PATH")
    }

    /// Compiles a C helper linked with libbpf (`cc -O2 -Wall SOURCE -lbpf -lelf -lz`) into the test
    /// cache and returns the binary's path. Callers keep the result in a `static let`, so each helper
    /// is built once per test process; the temporary name is private, so concurrent processes never
    /// see a half-written binary.
    static func buildCHelper(_ source: String, named name: String,
                             libraries: [String] = ["-lbpf", "-lelf", "-lz"]) throws -> String {
        let binary = cache + "/" + name
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        let temporary = binary + ".tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let result = try run("cc", ["-O2", "-Wall", source, "-o", temporary] + libraries)
        guard result.status == 0 else {
            throw TestSupportError("cannot build \(source) (needs libbpf-dev, libelf-dev, zlib1g-dev): \(result.stderr)")
        }
        guard rename(temporary, binary) == 0 else { throw TestSupportError("cannot move \(temporary) to \(binary)") }
        return binary
    }

    /// Every `.btf.tar.xz` / `.btf` kernel under `root`, sorted.
    static func kernelArchives(under root: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: root) else { return [] }
        return e.compactMap { $0 as? String }
            .filter { ($0.hasSuffix(".btf.tar.xz") || $0.hasSuffix(".btf")) && !$0.contains(".modules/") }
            .map { root + "/" + $0 }.sorted()
    }

    /// Module BTF fixtures (`<kernel>.modules/<module>.btf.tar.xz` beside a kernel fixture, split BTF
    /// against it), each with the kernel archive it is split against.
    static func moduleArchives(under root: String) -> [(module: String, kernel: String)] {
        guard let e = FileManager.default.enumerator(atPath: root) else { return [] }
        return e.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".btf.tar.xz") && $0.contains(".modules/") }
            .sorted()
            .map { relative in
                let directory = (relative as NSString).deletingLastPathComponent
                return (root + "/" + relative, root + "/" + directory.dropLast(".modules".count) + ".btf.tar.xz")
            }
    }

    /// Extracts a `.btf.tar.xz` into the cache (once) and returns the raw `.btf` path.
    static func extractedKernel(_ archive: String) throws -> String {
        if archive.hasSuffix(".btf") { return archive }
        let key = archive.replacingOccurrences(of: "/", with: "_")
        let dir = cache + "/kernels/" + key
        let name = (archive as NSString).lastPathComponent.replacingOccurrences(of: ".tar.xz", with: "")
        let result = dir + "/" + name
        if FileManager.default.fileExists(atPath: result) { return result }
        let tmp = dir + ".tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let r = try run("tar", ["-xJf", archive, "-C", tmp])
        guard r.status == 0 else { throw TestSupportError("tar -xJf \(archive) failed: \(r.stderr)") }
        // Tests extract the same kernel concurrently: the first rename wins, later ones use its result.
        if rename(tmp, dir) != 0 {
            if !FileManager.default.fileExists(atPath: result) {
                // A stale directory from an interrupted run: replace it.
                try? FileManager.default.removeItem(atPath: dir)
                if rename(tmp, dir) != 0 && !FileManager.default.fileExists(atPath: result) {
                    throw TestSupportError("cannot move the extracted \(archive) into \(dir)")
                }
            }
            try? FileManager.default.removeItem(atPath: tmp)
        }
        guard FileManager.default.fileExists(atPath: result) else { throw TestSupportError("\(archive) holds no \(name)") }
        return result
    }

    /// All kernels of the shared archive and the fixtures, extracted (raw `.btf` paths).
    static func allKernels() throws -> [String] {
        var archives = kernelArchives(under: fixtures)
        if sharedArchiveAvailable() { archives += kernelArchives(under: sharedArchive) }
        return try archives.map(extractedKernel)
    }

    /// Compiles every `bpf/*.bpf.c` with the toolchain's clang (`-g -O2 -target bpf`) and returns
    /// the object paths. Compiled once per test process (tests call this concurrently); each
    /// object is written under a temporary name and renamed, so no reader sees a half-written one.
    static func compiledBPFObjects() throws -> [String] { try compiledObjects.get() }

    private static let compiledObjects = Result<[String], any Error> { try compileBPFObjects() }

    private static func compileBPFObjects() throws -> [String] {
        let dir = packageRoot + "/bpf"
        let sources = (try FileManager.default.contentsOfDirectory(atPath: dir)).filter { $0.hasSuffix(".bpf.c") }.sorted()
        let outDir = cache + "/bpf"
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        return try sources.map { source in
            let object = outDir + "/" + source.replacingOccurrences(of: ".c", with: ".o")
            let temporary = object + ".tmp-\(getpid())"
            let r = try run("clang", ["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I", dir + "/include",
                                       "-c", dir + "/" + source, "-o", temporary])
            guard r.status == 0 else {
                try? FileManager.default.removeItem(atPath: temporary)
                throw TestSupportError("clang failed on \(source): \(r.stderr)")
            }
            guard rename(temporary, object) == 0 else { throw TestSupportError("cannot rename \(temporary) to \(object)") }
            return object
        }
    }
}

/// Requirements as Swift Testing traits. A test whose requirement is missing shows as skipped,
/// with the reason; under CI=true it runs anyway and fails at its `TestSupport.require...` call,
/// because CI must have everything.
extension Trait where Self == ConditionTrait {
    static var requiresRoot: Self {
        .enabled(if: TestSupport.isRoot || TestSupport.isCI, "needs root: it loads BPF or BTF into the running kernel")
    }
    static var requiresSharedArchive: Self {
        .enabled(if: TestSupport.hasSharedArchive || TestSupport.isCI,
                 "needs ../shared/btfhub-archive beside the checkout (or BTFKIT_SHARED_ARCHIVE)")
    }
}

struct TestSupportError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A Data box written once by a reader thread.
final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var done = false
    func set(_ d: Data) { lock.lock(); data = d; done = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return done }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}
