import BTF
import Foundation
import Testing

/// `BTF.dump` must print exactly what `bpftool btf dump file FILE` prints (raw format), for every
/// real kernel and every compiled BPF object; bpftool is the oracle, not our own code.
@Suite("bpftool btf dump text")
struct DumpTests {
    @Test("every kernel dumps exactly like bpftool")
    func kernelsMatchBpftool() async throws {
        let kernels = try TestSupport.allKernels()
        #expect(!kernels.isEmpty || !TestSupport.isCI, "no kernels found")
        let clock = ContinuousClock()
        let started = clock.now
        let failures = try await DumpComparison.forEach(kernels) { path in
            let btf = try BTF(contentsOf: path)
            return try Bpftool.dumpDifference(file: path, expected: btf.dumpText())
        }
        for failure in failures { Issue.record(Comment(rawValue: failure)) }
        print("DumpTests: \(kernels.count) kernels compared with bpftool in \(clock.now - started)")
    }

    @Test("every compiled BPF object dumps exactly like bpftool")
    func objectsMatchBpftool() async throws {
        let objects = try DumpComparison.bpfObjects()
        let failures = try await DumpComparison.forEach(objects) { path in
            let btf = try BTF(contentsOf: path)
            return try Bpftool.dumpDifference(file: path, expected: btf.dumpText())
        }
        for failure in failures { Issue.record(Comment(rawValue: failure)) }
    }

    /// The built `btf-dump` tool (what users run) prints the same bytes as bpftool.
    @Test("the btf-dump executable prints bpftool's text")
    func commandLineToolMatchesBpftool() throws {
        let tool = try DumpComparison.builtExecutable("btf-dump")
        // The objects plus the smallest kernel keep this quick; the in-process tests cover the rest.
        var files = try DumpComparison.bpfObjects()
        if let smallest = try TestSupport.allKernels().min(by: { DumpComparison.fileSize($0) < DumpComparison.fileSize($1) }) {
            files.append(smallest)
        }
        #expect(!files.isEmpty || !TestSupport.isCI)
        for file in files {
            let ours = try TestSupport.run(tool, [file])
            #expect(ours.status == 0, "btf-dump \(file) failed: \(ours.stderr)")
            if let difference = try Bpftool.dumpDifference(file: file, expected: [UInt8](ours.stdout)) {
                Issue.record(Comment(rawValue: "btf-dump executable: " + difference))
            }
        }
    }

    /// The three ways out of the dump produce the same bytes.
    @Test("dump(to:), dumpText() and dump(toFileDescriptor:) agree")
    func outputPathsAgree() throws {
        let btf = BuilderSamples.oneOfEachKind()
        let bytes = btf.dumpText()
        var text = ""
        btf.dump(to: &text)
        #expect(Array(text.utf8) == bytes)

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("btfkit-dump-\(getpid())-\(UInt32.random(in: 0 ... .max)).txt").path
        defer { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        try btf.dump(toFileDescriptor: fd)
        close(fd)
        #expect(try FileIO.read(path) == bytes)
    }

    /// Cases real files rarely hold: bpftool's fallbacks for unknown encodings and linkages, a name
    /// offset pointing at an empty string, a DATASEC entry naming `void`, extreme enum values,
    /// names that do not fit one output buffer.
    @Test("unusual records print like bpftool")
    func unusualRecordsMatchBpftool() throws {
        var b = BTFBuilder()
        let intName = b.addString("int")
        let int = b.add(TypeRecord(kind: .int, name: intName, sizeOrType: 4, extra: [0x0100_0020]))
        // An INT with encoding bits 3 (SIGNED|CHAR): bpftool says UNKN.
        b.add(TypeRecord(kind: .int, name: b.addString("odd"), sizeOrType: 1, extra: [0x0308_0008]))
        // A FUNC and a VAR with linkage 3, which bpftool calls (unknown).
        let proto = b.add(TypeRecord(kind: .functionPrototype, name: .empty, sizeOrType: 0))
        b.add(TypeRecord(kind: .function, name: b.addString("f"), vlen: 3, sizeOrType: proto.rawValue))
        let variable = b.add(TypeRecord(kind: .variable, name: b.addString("v"), sizeOrType: int.rawValue, extra: [3]))
        // A DATASEC entry whose type is void (id 0), and one past the last valid id is impossible:
        // the parser rejects it, so only void is tested.
        b.add(TypeRecord(kind: .dataSection, name: b.addString(".data"), vlen: 2, sizeOrType: 8,
                         extra: [0, 0, 4, variable.rawValue, 4, 4]))
        // ENUM values at the ends of both signednesses, and an ENUM64 at Int64.min / UInt64.max.
        b.add(TypeRecord(kind: .enumeration, name: b.addString("s32"), vlen: 2, kindFlag: true, sizeOrType: 4,
                         extra: [b.addString("MIN").rawValue, 0x8000_0000, b.addString("MAX").rawValue, 0x7fff_ffff]))
        b.add(TypeRecord(kind: .enumeration, name: b.addString("u32"), vlen: 1, sizeOrType: 4,
                         extra: [b.addString("ALL").rawValue, 0xffff_ffff]))
        b.add(TypeRecord(kind: .enum64, name: b.addString("s64"), vlen: 1, kindFlag: true, sizeOrType: 8,
                         extra: [b.addString("MIN64").rawValue, 0, 0x8000_0000]))
        b.add(TypeRecord(kind: .enum64, name: b.addString("u64"), vlen: 1, sizeOrType: 8,
                         extra: [b.addString("MAX64").rawValue, 0xffff_ffff, 0xffff_ffff]))
        // A member name offset pointing at the NUL that ends "int": bpftool prints '' (not (anon)).
        let emptyName = StringOffset(intName.rawValue + 3)
        b.add(TypeRecord(kind: .structure, name: b.addString(String(repeating: "n", count: 3 << 20)), vlen: 1, sizeOrType: 4,
                         extra: [emptyName.rawValue, int.rawValue, 0]))
        let btf = b.build()

        let expectedPrefix = """
        [1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
        [2] INT 'odd' size=1 bits_offset=8 nr_bits=8 encoding=UNKN
        [3] FUNC_PROTO '(anon)' ret_type_id=0 vlen=0
        [4] FUNC 'f' type_id=3 linkage=(unknown)
        [5] VAR 'v' type_id=1, linkage=(unknown)
        [6] DATASEC '.data' size=8 vlen=2
        \ttype_id=0 offset=0 size=4 (UNKNOWN '(anon)')
        \ttype_id=5 offset=4 size=4 (VAR 'v')
        [7] ENUM 's32' encoding=SIGNED size=4 vlen=2
        \t'MIN' val=-2147483648
        \t'MAX' val=2147483647
        [8] ENUM 'u32' encoding=UNSIGNED size=4 vlen=1
        \t'ALL' val=4294967295
        [9] ENUM64 's64' encoding=SIGNED size=8 vlen=1
        \t'MIN64' val=-9223372036854775808LL
        [10] ENUM64 'u64' encoding=UNSIGNED size=8 vlen=1
        \t'MAX64' val=18446744073709551615ULL

        """
        let text = btf.dumpText()
        #expect(String(decoding: text, as: UTF8.self).hasPrefix(expectedPrefix))
        let expectedStruct = "[11] STRUCT '" + String(repeating: "n", count: 3 << 20) + "' size=4 vlen=1\n\t'' type_id=1 bits_offset=0\n"
        #expect(String(decoding: text, as: UTF8.self).hasSuffix(expectedStruct))

        let path = try DumpComparison.writeTemporary(btf.serialized(), name: "unusual.btf")
        defer { unlink(path) }
        if let difference = try Bpftool.dumpDifference(file: path, expected: text) {
            Issue.record(Comment(rawValue: difference))
        }
    }
}

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

/// Runs `bpftool btf dump file` and compares its output with expected text while it streams, so a
/// 150 MB dump is never held twice.
enum Bpftool {
    /// `nil` when bpftool prints exactly `expected`; otherwise the file, the first differing line
    /// (with its number and the type it belongs to) as bpftool and as we print it.
    /// With `base`, `file` is split BTF dumped with `-B base`.
    static func dumpDifference(file: String, base: String? = nil, expected: [UInt8]) throws -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestSupport.which("bpftool"))
        process.arguments = ["btf", "dump", "file", file] + (base.map { ["-B", $0] } ?? [])
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        var comparer = StreamComparer(expected: expected)
        let fd = output.fileHandleForReading.fileDescriptor
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestSupportError("reading bpftool's output for \(file) failed (errno \(errno))")
            }
            if n == 0 { break }
            chunk.withUnsafeBytes { comparer.feed(UnsafeRawBufferPointer(rebasing: $0[0 ..< n])) }
        }
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            return "\(file): bpftool btf dump failed (status \(process.terminationStatus)): \(errorText)"
        }
        return comparer.difference().map { "\(file): \($0)" }
    }
}

/// Compares a byte stream with expected bytes, remembering where they first differ.
struct StreamComparer {
    let expected: [UInt8]
    /// Bytes of the stream seen so far.
    private var position = 0
    /// Offset of the first differing byte, once found.
    private var mismatch: Int?
    /// The stream's bytes from the mismatch to the end of that line (capped).
    private var actualRest: [UInt8] = []

    init(expected: [UInt8]) { self.expected = expected }

    mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        defer { position += bytes.count }
        if mismatch != nil {
            collectRestOfLine(bytes[...])
            return
        }
        let comparable = min(bytes.count, expected.count - position)
        let equal = comparable == 0 || expected.withUnsafeBytes { memcmp($0.baseAddress! + position, bytes.baseAddress!, comparable) == 0 }
        if equal && comparable == bytes.count { return }
        var i = 0
        if !equal { while bytes[i] == expected[position + i] { i += 1 } } else { i = comparable }
        mismatch = position + i
        collectRestOfLine(bytes[i...])
    }

    private mutating func collectRestOfLine(_ bytes: Slice<UnsafeRawBufferPointer>) {
        guard actualRest.last != 10, actualRest.count < 4096 else { return }
        for b in bytes {
            if b == 10 || actualRest.count >= 4096 { actualRest.append(b); return }
            actualRest.append(b)
        }
    }

    /// `nil` if the stream equalled `expected`, else a description of the first differing line.
    func difference() -> String? {
        let at: Int
        if let mismatch { at = mismatch } else if position < expected.count { at = position } else { return nil }
        let lineStart = (expected[..<at].lastIndex(of: 10) ?? -1) + 1
        let lineNumber = expected[..<lineStart].reduce(1) { $1 == 10 ? $0 + 1 : $0 }
        let ourLineEnd = expected[lineStart...].firstIndex(of: 10) ?? expected.count
        let ours = at == expected.count ? "<end of output>" : String(decoding: expected[lineStart ..< ourLineEnd], as: UTF8.self)
        var theirBytes = Array(expected[lineStart ..< at]) + actualRest
        if theirBytes.last == 10 { theirBytes.removeLast() }
        let theirs = mismatch == nil ? "<end of output>" : String(decoding: theirBytes, as: UTF8.self)
        // Member lines start with a tab; name the type they belong to.
        var context = ""
        if expected[lineStart...].first == 9 {
            var headerStart = lineStart
            repeat {
                headerStart = (expected[..<(headerStart - 1)].lastIndex(of: 10) ?? -1) + 1
            } while headerStart > 0 && expected[headerStart] == 9
            let headerEnd = expected[headerStart...].firstIndex(of: 10) ?? expected.count
            context = " (in \(String(decoding: expected[headerStart ..< headerEnd], as: UTF8.self)))"
        }
        return "first difference at line \(lineNumber)\(context):\n  bpftool: \(theirs.prefix(300))\n  ours:    \(ours.prefix(300))"
    }
}
