import Archive
import BTF
import CORE
import Foundation
@testable import TestSupport
import Testing
import Trim

/// `btf-trim --cache`: the kernel cache gives the same outputs as xz, survives damaged entries,
/// stays under its size limit in least-recently-used order, and is shared safely by two runs;
/// and the per-kernel sharing of relocation matches between objects changes no result.
@Suite("Kernel cache and shared relocations", .serialized)
struct KernelCacheTests {
    /// Kernels of the shared archive used here, of different sizes.
    static let archives = [
        "debian/10/x86_64/4.19.0-17-cloud-amd64.btf.tar.xz",
        "debian/10/x86_64/4.19.0-22-cloud-amd64.btf.tar.xz",
        "ubuntu/20.04/x86_64/5.4.0-26-generic.btf.tar.xz",
    ]

    /// A small btfhub tree of copies of `archives`.
    static func makeTree(in directory: TemporaryDirectory) throws -> String {
        for relative in archives {
            let target = directory.path + "/in/" + relative
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: TestSupport.sharedArchive + "/" + relative, toPath: target)
        }
        return directory.path + "/in"
    }

    /// What the btf-trim runs of a test share: a small tree of `archives`, the project's objects,
    /// btf-trim, and a cache directory (not yet made) beside them.
    struct CacheRun {
        let directory: TemporaryDirectory
        let input: String
        let objects: [String]
        let tool: String
        var cache: String { directory.path + "/cache" }

        init() throws {
            directory = try TemporaryDirectory()
            input = try KernelCacheTests.makeTree(in: directory)
            objects = try TestSupport.compiledBPFObjects()
            tool = try BTFTrimTool.path()
        }

        /// A trim with the cache into `output` (under the run's directory).
        func trim(into output: String) throws -> (status: Int32, stdout: Data, stderr: String) {
            try TestSupport.run(tool, objects + [input, "-o", directory.path + "/" + output, "--cache", cache])
        }

        /// Rewrites the cache entry `name` through `change`.
        func editEntry(_ name: String, _ change: (inout [UInt8]) -> Void) throws {
            let path = cache + "/entries/" + name
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            change(&bytes)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }

        /// A first trim into `cold`, filling the empty cache: its entries, one per kernel.
        func trimCold() throws -> [String] {
            let cold = try trim(into: "cold")
            #expect(cold.status == 0, "\(cold.stderr)")
            let entries = try KernelCacheTests.entries(in: cache)
            #expect(entries.count == 3)
            return entries
        }
    }

    /// Every regular file under `root`, relative path to bytes.
    static func files(under root: String) throws -> [String: Data] {
        var result: [String: Data] = [:]
        guard let walker = FileManager.default.enumerator(atPath: root) else { return result }
        for case let relative as String in walker {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
                result[relative] = try Data(contentsOf: URL(fileURLWithPath: root + "/" + relative))
            }
        }
        return result
    }

    static func entries(in cache: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: cache + "/entries").filter { $0.hasSuffix(".btf") }.sorted()
    }

    // MARK: - Pieces

    @Test("SHA-256 agrees with sha256sum")
    func sha256() throws {
        let directory = try TemporaryDirectory()
        // Lengths around the 55/56/64-byte padding boundaries, and a multi-block one.
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_003] {
            let bytes = (0 ..< length).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
            try directory.write("f\(length)", bytes)
            let reference = try TestSupport.run("sha256sum", [directory.path + "/f\(length)"])
            let expected = String(decoding: reference.stdout, as: UTF8.self).prefix(64)
            #expect(SHA256.hex(bytes) == String(expected), "length \(length)")
        }
    }

    @Test("cache sizes: units accepted, nonsense refused")
    func sizes() {
        #expect(KernelCache.parseSize("2G") == 2 << 30)
        #expect(KernelCache.parseSize("512M") == 512 << 20)
        #expect(KernelCache.parseSize("512m") == 512 << 20)
        #expect(KernelCache.parseSize("64K") == 64 << 10)
        #expect(KernelCache.parseSize("2GiB") == 2 << 30)
        #expect(KernelCache.parseSize("100MB") == 100 << 20)
        #expect(KernelCache.parseSize("4096") == 4096)
        for bad in ["", "0", "-5", "abc", "12Q", "G", "1.5G", "99999999999T", " 2G"] {
            #expect(KernelCache.parseSize(bad) == nil, "\(bad)")
        }
    }

    // MARK: - The executable

    @Test("a cache hit gives the same outputs and report as no cache; hits and misses are reported", .requiresSharedArchive)
    func hitIsIdentical() throws {
        try TestSupport.requireSharedArchive()
        let run = try CacheRun()
        let (directory, input, objects, tool, cache) = (run.directory, run.input, run.objects, run.tool, run.cache)
        let plain = try TestSupport.run(tool, objects + [input, "-o", directory.path + "/plain", "--report", directory.path + "/plain.json"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(!plain.stderr.contains("cache:"))
        let cold = try run.trim(into: "cold")
        #expect(cold.status == 0, "\(cold.stderr)")
        #expect(cold.stderr.contains("cache: 0 hits, 3 misses"), "\(cold.stderr)")
        #expect(try Self.entries(in: cache).count == 3)
        // BTFKIT_CACHE names the cache when --cache is not given.
        setenv(KernelCache.environmentVariable, cache, 1)
        defer { unsetenv(KernelCache.environmentVariable) }
        let warm = try TestSupport.run(tool, objects + [input, "-o", directory.path + "/warm", "--report", directory.path + "/warm.json"])
        #expect(warm.status == 0, "\(warm.stderr)")
        #expect(warm.stderr.contains("cache: 3 hits, 0 misses"), "\(warm.stderr)")
        let expected = try Self.files(under: directory.path + "/plain")
        #expect(expected.count == 3 + 1)  // three kernels and the pack record
        #expect(try Self.files(under: directory.path + "/cold") == expected)
        #expect(try Self.files(under: directory.path + "/warm") == expected)
        // The report holds no timings and nothing of the cache: the same bytes.
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory.path + "/plain.json"))
                == Data(contentsOf: URL(fileURLWithPath: directory.path + "/warm.json")))
    }

    @Test("a corrupt or truncated cache entry is dropped and rebuilt, never used", .requiresSharedArchive)
    func damagedEntries() throws {
        try TestSupport.requireSharedArchive()
        let run = try CacheRun()
        let directory = run.directory
        let entries = try run.trimCold()
        // One bit flipped in the middle of the payload (the BTF would still parse), one entry cut short,
        // one header's magic damaged.
        try run.editEntry(entries[0]) { $0[$0.count / 2] ^= 0x10 }
        try run.editEntry(entries[1]) { $0.removeLast(100) }
        try run.editEntry(entries[2]) { $0[0] = 0 }

        let again = try run.trim(into: "again")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("0 hits, 3 misses"), "\(again.stderr)")
        #expect(again.stderr.contains("3 damaged entries dropped and rebuilt"), "\(again.stderr)")
        #expect(try Self.files(under: directory.path + "/again") == Self.files(under: directory.path + "/cold"))
        // Rebuilt: whole again, and used by the next run.
        let third = try run.trim(into: "third")
        #expect(third.stderr.contains("cache: 3 hits, 0 misses"), "\(third.stderr)")
        #expect(try Self.files(under: directory.path + "/third") == Self.files(under: directory.path + "/cold"))
    }

    @Test("an entry is its payload's length and XXH3 (as xxhsum -H3 computes it) behind BTFKITC2; a BTFKITC1 entry is rebuilt",
          .requiresSharedArchive)
    func entryFormat() throws {
        try TestSupport.requireSharedArchive()
        let run = try CacheRun()
        let (directory, cache) = (run.directory, run.cache)
        let entries = try run.trimCold()
        func littleEndian(_ bytes: ArraySlice<UInt8>) -> UInt64 { bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        for name in entries {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: cache + "/entries/" + name)))
            #expect(Array(bytes[0 ..< 8]) == Array("BTFKITC2".utf8), "\(name)")
            #expect(littleEndian(bytes[8 ..< 16]) == UInt64(bytes.count - 24), "\(name)")
            try directory.write("payload", Array(bytes[24...]))
            let reference = try TestSupport.run("xxhsum", ["-H3", directory.path + "/payload"])
            // "XXH3 (path) = <16 hex digits>": the hash as a big-endian number.
            let digits = String(decoding: reference.stdout, as: UTF8.self).split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            #expect(digits.flatMap { UInt64($0, radix: 16) } == littleEndian(bytes[16 ..< 24]), "\(name): \(String(decoding: reference.stdout, as: UTF8.self))")
        }
        // The previous format (its magic and a CRC-32 where the checksum is) counts as damaged: rebuilt once.
        try run.editEntry(entries[0]) { bytes in
            bytes.replaceSubrange(0 ..< 8, with: Array("BTFKITC1".utf8))
            bytes.replaceSubrange(16 ..< 24, with: [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0])
        }
        let again = try run.trim(into: "again")
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("cache: 2 hits, 1 misses"), "\(again.stderr)")
        #expect(again.stderr.contains("1 damaged entry dropped and rebuilt"), "\(again.stderr)")
        #expect(try Self.files(under: directory.path + "/again") == Self.files(under: directory.path + "/cold"))
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: cache + "/entries/" + entries[0])))[0 ..< 8] == Array("BTFKITC2".utf8)[...])
    }

    @Test("two runs sharing one cache at the same time both succeed with the same outputs", .requiresSharedArchive)
    func concurrentRuns() throws {
        try TestSupport.requireSharedArchive()
        let run = try CacheRun()
        let (directory, input, objects, tool, cache) = (run.directory, run.input, run.objects, run.tool, run.cache)
        let plain = try TestSupport.run(tool, objects + [input, "-o", directory.path + "/plain"])
        #expect(plain.status == 0)
        // Twice two runs at once: on an empty cache (both write the same entries) and a warm one.
        for round in 0 ..< 2 {
            let processes = (0 ..< 2).map { index -> Process in
                let process = Process()
                process.executableURL = URL(fileURLWithPath: tool)
                process.arguments = objects + [input, "-o", directory.path + "/run\(round)-\(index)", "--cache", cache, "--jobs", "2"]
                process.standardError = FileHandle.nullDevice
                process.standardOutput = FileHandle.nullDevice
                return process
            }
            for process in processes { try process.run() }
            for process in processes {
                process.waitUntilExit()
                #expect(process.terminationStatus == 0, "round \(round)")
            }
            for index in 0 ..< 2 {
                #expect(try Self.files(under: directory.path + "/run\(round)-\(index)") == Self.files(under: directory.path + "/plain"))
            }
        }
        #expect(try Self.entries(in: cache).count == 3)
        // No temporary files left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache + "/entries").allSatisfy { $0.hasSuffix(".btf") })
    }

    @Test("bad --cache-max-size values exit 2 with a message naming the option")
    func badMaxSize() throws {
        let tool = try BTFTrimTool.path()
        let directory = try TemporaryDirectory()
        for bad in ["0", "abc", "-5", "12Q", "1.5G", ""] {
            let result = try TestSupport.run(tool, ["a.bpf.o", "kernel.btf", "-o", directory.path + "/out",
                                                    "--cache", directory.path + "/cache", "--cache-max-size", bad])
            #expect(result.status == 2, "\(bad)")
            #expect(result.stderr.contains("--cache-max-size"), "\(bad): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/out"))
    }

    // MARK: - The library

    /// Every file of the cache with its size and mtime (nanoseconds).
    static func cacheFiles(_ cache: String) throws -> [(path: String, size: Int, mtime: Int)] {
        try ["entries", "keys"].flatMap { sub in
            try FileManager.default.contentsOfDirectory(atPath: cache + "/" + sub).map { name in
                let path = cache + "/" + sub + "/" + name
                var status = stat()
                _ = stat(path, &status)
                return (path, Int(status.st_size), Int(status.st_mtim.tv_sec) * 1_000_000_000 + Int(status.st_mtim.tv_nsec))
            }
        }
    }

    /// Sets a file's mtime to `seconds` after the epoch, so that recency does not depend on the clock's granularity.
    static func setMTime(_ path: String, _ seconds: Int) {
        var times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
        _ = utimensat(AT_FDCWD, path, &times, 0)
    }

    @Test("eviction keeps the cache under --cache-max-size, least recently used first", .requiresSharedArchive)
    func evictionIsLRU() throws {
        try TestSupport.requireSharedArchive()
        let directory = try TemporaryDirectory()
        let input = try Self.makeTree(in: directory)
        let paths = Self.archives.map { input + "/" + $0 }
        let raw = try paths.map { try KernelArchive.readBTF(fromArchive: $0).bytes }
        let entrySize = raw.map { $0.count + 24 }
        let hashes = try paths.map { SHA256.hex(try [UInt8](Data(contentsOf: URL(fileURLWithPath: $0)))) }
        let keySize = 64
        // A is the largest; the limit holds B and C with their keys, plus less than A's entry.
        let order = entrySize.indices.sorted { entrySize[$0] > entrySize[$1] }
        let (a, b, c) = (order[0], order[1], order[2])
        let maxSize = entrySize[b] + entrySize[c] + 3 * keySize + entrySize[a] / 2
        try #require(entrySize[a] / 2 > keySize && entrySize[c] >= entrySize[a] / 2)

        let cacheDir = directory.path + "/cache"
        func entry(_ i: Int) -> String { cacheDir + "/entries/" + hashes[i] + ".btf" }
        func present(_ i: Int) -> Bool { FileManager.default.fileExists(atPath: entry(i)) }
        // Each step in its own second: recency by mtime does not depend on the clock's granularity.
        // (On equal mtimes, eviction goes by path: an entry before its key.)
        var clock = 1_000_000
        func age(_ cache: KernelCache) throws {
            for file in try Self.cacheFiles(cacheDir) where file.mtime > 2_000_000 * 1_000_000_000 {
                Self.setMTime(file.path, clock)
            }
            clock += 1
        }
        let cache = try KernelCache(directory: cacheDir, maxSize: maxSize)
        for i in [a, b, c] {
            #expect(try cache.readBTF(fromArchive: paths[i], maxDecompressedSize: 512 << 20) == raw[i])
            try age(cache)
        }
        // A was the least recently used: evicted; B and C kept.
        #expect(!present(a) && present(b) && present(c))
        #expect(try Self.cacheFiles(cacheDir).reduce(0) { $0 + $1.size } <= maxSize)
        // B used again (a hit refreshes it), then A comes back: now C is the least recently used.
        #expect(try cache.readBTF(fromArchive: paths[b], maxDecompressedSize: 512 << 20) == raw[b])
        try age(cache)
        #expect(try cache.readBTF(fromArchive: paths[a], maxDecompressedSize: 512 << 20) == raw[a])
        #expect(present(a) && present(b) && !present(c))
        #expect(try Self.cacheFiles(cacheDir).reduce(0) { $0 + $1.size } <= maxSize)
        let statistics = cache.statistics
        #expect(statistics.hits == 1 && statistics.misses == 4)
        #expect(statistics.evicted >= 2 && statistics.evictedBytes >= entrySize[a] + entrySize[c])
    }

    @Test("matching relocation shapes once per kernel (and candidates once per class) gives the results and outputs of one object at a time",
          .requiresSharedArchive)
    func sharedMatchesChangeNothing() throws {
        try TestSupport.requireSharedArchive()
        let objects = try TestSupport.compiledBPFObjects().map { try BPFObject(contentsOf: $0) }
        // The same object twice shares every relocation; the others share the kernel_types.h ones.
        let trimmer = Trimmer(objects: objects + [objects[0]])
        let shapes = SharedRelocationShapes(objects: trimmer.objects)
        let shapeCount = shapes.shapes.joined().compactMap { $0 }.count
        #expect(shapes.count < shapeCount, "some relocations are shared")
        var kernels = TestSupport.kernelArchives(under: TestSupport.fixtures).map { try? TestSupport.extractedKernel($0) }.compactMap { $0 }
        kernels += try Self.archives.map { try TestSupport.extractedKernel(TestSupport.sharedArchive + "/" + $0) }
        // Not deduplicated: 811 copies of task_struct, matched by classes of identical candidates.
        kernels.append(try TestSupport.extractedKernel(TestSupport.sharedArchive + "/centos/8/x86_64/4.18.0-147.el8.x86_64.btf.tar.xz"))
        for path in kernels {
            let kernel = try BTF(contentsOf: path)
            let shared = try trimmer.trim(kernel: kernel)
            let relocator = CORERelocator(target: kernel)
            let alone = trimmer.objects.map { relocator.resolveAll(in: $0) }
            for (one, other) in zip(shared.relocations.joined(), alone.joined()) {
                #expect(one.outcome == other.outcome && one.targetSpecs == other.targetSpecs && one.localSpec == other.localSpec
                        && one.candidateIDs == other.candidateIDs && one.value == other.value && one.sectionName == other.sectionName,
                        "\(path)")
            }
            let separate = try trimmer.minimize(kernel: kernel, relocations: alone)
            #expect(shared.minimized.serialized() == separate.minimized.serialized(), "\(path)")
        }
    }
}
