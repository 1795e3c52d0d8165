import Archive
import BTF
import Foundation
@testable import TestSupport
import Testing
import Trim

/// `btf-trim` over small btfhub trees: parallel trimming, per-kernel failures, mirrored output,
/// atomic re-runs, single-file mode and usage errors, through the built executable and the library.
@Suite("Sweep: btf-trim over btfhub trees", .serialized)
struct SweepTests {
    /// Good kernels of the shared archive copied into the test trees (small ones, so debug builds stay quick).
    static let goodArchives = [
        "debian/10/x86_64/4.19.0-17-cloud-amd64.btf.tar.xz",
        "debian/10/x86_64/4.19.0-22-cloud-amd64.btf.tar.xz",
        "ubuntu/20.04/x86_64/5.4.0-26-generic.btf.tar.xz",
    ]
    /// Stored raw (extracted) in the test tree, to cover `.btf` inputs.
    static let rawKernel = "debian/10/x86_64/4.19.0-18-cloud-amd64.btf.tar.xz"
    /// Where the corrupt kernel sits in the test tree.
    static let badArchive = "centos/8/x86_64/4.18.0-999.el8.x86_64.btf.tar.xz"

    /// A btfhub-shaped test tree: three archives, one raw `.btf`, one truncated archive, one stray file.
    struct TestTree {
        let directory: TemporaryDirectory
        var input: String { directory.path + "/in" }
        var output: String { directory.path + "/out" }
        /// Output paths of the good kernels, relative to `output`.
        let expectedOutputs: [String]
        /// For each expected output, the raw kernel BTF it was trimmed from.
        let sources: [String: String]

        init() throws {
            directory = try TemporaryDirectory()
            var expected: [String] = []
            var sources: [String: String] = [:]
            let fm = FileManager.default
            for relative in SweepTests.goodArchives {
                let target = directory.path + "/in/" + relative
                try fm.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try fm.copyItem(atPath: TestSupport.sharedArchive + "/" + relative, toPath: target)
                let out = relative.replacingOccurrences(of: ".btf.tar.xz", with: ".btf")
                expected.append(out)
                sources[out] = try TestSupport.extractedKernel(TestSupport.sharedArchive + "/" + relative)
            }
            let raw = try TestSupport.extractedKernel(TestSupport.sharedArchive + "/" + SweepTests.rawKernel)
            let rawRelative = SweepTests.rawKernel.replacingOccurrences(of: ".btf.tar.xz", with: ".btf")
            try fm.copyItem(atPath: raw, toPath: directory.path + "/in/" + rawRelative)
            expected.append(rawRelative)
            sources[rawRelative] = raw
            // The corrupt kernel: a real archive cut in half.
            let whole = try Data(contentsOf: URL(fileURLWithPath: TestSupport.sharedArchive + "/" + SweepTests.goodArchives[0]))
            try directory.write("in/" + SweepTests.badArchive, [UInt8](whole.prefix(whole.count / 2)))
            try directory.write("in/README.md", Array("not a kernel\n".utf8))
            expectedOutputs = expected.sorted()
            self.sources = sources
        }
    }

    // MARK: - The executable

    @Test("a tree with one corrupt kernel: the good ones are written, the bad one reported by path, exit 1", .requiresSharedArchive)
    func treeWithCorruptKernel() throws {
        try TestSupport.requireSharedArchive()
        let tool = try BTFTrimTool.path()
        let objects = try TestSupport.compiledBPFObjects()
        let tree = try TestTree()

        let first = try TestSupport.run(tool, objects + [tree.input, "-o", tree.output, "--jobs", "3"])
        #expect(first.status == 1, "stderr: \(first.stderr)")
        #expect(first.stderr.contains(tree.input + "/" + Self.badArchive))
        #expect(first.stderr.contains("truncated"))
        let summary = String(decoding: first.stdout, as: UTF8.self) + first.stderr
        #expect(summary.contains("kernels: 4 trimmed, 1 failed, 1 other file skipped"))
        #expect(summary.contains("objects: \(objects.count) with"))
        // The output mirrors the input tree, holding exactly the good kernels as raw .btf files, and
        // the record of what they were trimmed for (which btf-pack puts into the pack).
        #expect(try Self.files(under: tree.output) == (tree.expectedOutputs + [PackMetadata.memberName]).sorted())

        // Every output is what the library's trimmer makes of that very kernel (no mix-up between workers),
        // and libbpf (through bpftool) reads it.
        let trimmer = Trimmer(objects: try objects.map { try BPFObject(contentsOf: $0) })
        for relative in tree.expectedOutputs {
            let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: tree.output + "/" + relative)))
            let expected = try trimmer.trim(kernel: try BTF(contentsOf: tree.sources[relative]!)).minimized.serialized()
            #expect(written == expected, "\(relative) differs from Trimmer's output for its kernel")
        }
        let dump = try TestSupport.run("bpftool", ["btf", "dump", "file", tree.output + "/" + tree.expectedOutputs[0]])
        #expect(dump.status == 0, "bpftool cannot read the trimmed BTF: \(dump.stderr)")

        // A re-run replaces every output by rename (new inode), leaves no temporary file behind, and
        // writes the same bytes.
        let before = try Self.snapshot(tree.output, tree.expectedOutputs)
        let second = try TestSupport.run(tool, objects + [tree.input, "-o", tree.output])
        #expect(second.status == 1)
        let after = try Self.snapshot(tree.output, tree.expectedOutputs)
        #expect(try Self.files(under: tree.output, includeHidden: true) == (tree.expectedOutputs + [PackMetadata.memberName]).sorted())
        for relative in tree.expectedOutputs {
            #expect(after[relative]!.bytes == before[relative]!.bytes, "\(relative) changed between runs")
            #expect(after[relative]!.inode != before[relative]!.inode, "\(relative) was rewritten in place, not replaced atomically")
        }
    }

    @Test("single-file mode: raw BTF, .btf.tar.xz and the running kernel's BTF give one output file", .requiresSharedArchive)
    func singleFileMode() throws {
        try TestSupport.requireSharedArchive()
        let tool = try BTFTrimTool.path()
        let objects = try TestSupport.compiledBPFObjects()
        let trimmer = Trimmer(objects: try objects.map { try BPFObject(contentsOf: $0) })
        let dir = try TemporaryDirectory()
        let archive = TestSupport.sharedArchive + "/" + Self.goodArchives[2]
        let raw = try TestSupport.extractedKernel(archive)
        // An ELF file with a .BTF section stands in for an ELF vmlinux: one of the objects themselves.
        var inputs = [(raw, raw), (archive, raw), (objects[0], objects[0])]
        if FileManager.default.fileExists(atPath: "/sys/kernel/btf/vmlinux") {
            inputs.append(("/sys/kernel/btf/vmlinux", "/sys/kernel/btf/vmlinux"))
        }
        for (index, (input, kernel)) in inputs.enumerated() {
            let out = dir.path + "/min-\(index).btf"
            let result = try TestSupport.run(tool, objects + [input, "-o", out])
            #expect(result.status == 0, "\(input): \(result.stderr)")
            let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: out)))
            #expect(written == (try trimmer.trim(kernel: try BTF(contentsOf: kernel)).minimized.serialized()), "\(input)")
        }
        // A directory as OUT is refused in single-file mode.
        let refused = try TestSupport.run(tool, objects + [raw, "-o", dir.path])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("is a directory"))
    }

    @Test("usage errors exit 2 with a message and write nothing")
    func usageErrors() throws {
        let tool = try BTFTrimTool.path()
        let objects = try TestSupport.compiledBPFObjects()
        let dir = try TemporaryDirectory()
        try dir.write("empty-tree/README", [])
        try dir.write("a-file", [1, 2, 3])
        try dir.write("tree/ubuntu/20.04/x86_64/5.4.0-1.btf", [0])
        let out = dir.path + "/out"
        let cases: [(arguments: [String], message: String)] = [
            ([], "Missing expected argument '--output"),
            (["-o", out], "missing BPF objects and INPUT"),
            ([dir.path + "/tree", "-o", out], "missing INPUT or BPF objects"),
            (objects + [dir.path + "/tree"], "--output"),
            ([dir.path + "/missing.bpf.o", dir.path + "/tree", "-o", out], "missing.bpf.o: cannot open"),
            ([dir.path + "/a-file", dir.path + "/tree", "-o", out], "a-file"),
            (objects + [dir.path + "/missing-input", "-o", out], "missing-input: input not found"),
            (objects + [dir.path + "/tree", "-o", out, "--jobs", "0"], "--jobs must be at least 1"),
            (objects + [dir.path + "/tree", "-o", out, "--jobs", "many"], "many"),
            (objects + [dir.path + "/tree", "-o", out, "--bogus"], "--bogus"),
            (objects + [dir.path + "/empty-tree", "-o", out], "no kernels found"),
            (objects + [dir.path + "/tree", "-o", out, "--arch", "arm64"], "no kernels found for --arch arm64"),
            (objects + [dir.path + "/tree", "-o", dir.path + "/a-file"], "is not a directory"),
            (objects + [dir.path + "/tree", "-o", dir.path + "/tree"], "OUT is the input tree itself"),
            (objects + [dir.path + "/a-file", "-o", out, "--arch", "x86_64"], "--arch filters a btfhub tree"),
        ]
        for (arguments, message) in cases {
            let result = try TestSupport.run(tool, arguments)
            #expect(result.status == 2, "\(arguments.suffix(4)): exit \(result.status), stderr \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments.suffix(4)): expected \"\(message)\" in \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(arguments.suffix(4)) wrote \(out)")
        }
        // --help is not an error, and shows examples.
        let help = try TestSupport.run(tool, ["--help"])
        #expect(help.status == 0)
        #expect(String(decoding: help.stdout, as: UTF8.self).contains("Examples:"))
    }

    /// The library says what is wrong in terms of `SweepOptions`; btf-trim names the flag (above).
    @Test("usage errors of the library name no command-line flag")
    func libraryUsageErrorsNameNoFlag() async throws {
        let objects = try Sweep.loadObjects(try TestSupport.compiledBPFObjects())
        let dir = try TemporaryDirectory()
        try dir.write("a-file", [1, 2, 3])
        try dir.write("empty-tree/README", [])
        let cases: [(SweepOptions, String, SweepUsageError.Problem)] = [
            (SweepOptions(jobs: 0), dir.path + "/empty-tree", .jobsOutOfRange(0)),
            (SweepOptions(jobs: 1, arch: "x86_64"), dir.path + "/a-file", .architectureNeedsTree(input: dir.path + "/a-file")),
            (SweepOptions(jobs: 1, modulesBesideKernels: true), dir.path + "/a-file", .modulesBesideKernelsNeedTree),
            (SweepOptions(jobs: 1, arch: "arm64"), dir.path + "/empty-tree",
             .noKernels(input: dir.path + "/empty-tree", architecture: "arm64", otherArchitectures: 0, skippedFiles: 1)),
        ]
        for (options, input, problem) in cases {
            do {
                _ = try await Sweep(objects: objects, options: options).run(input: input, output: dir.path + "/out")
                Issue.record("\(problem): no error")
            } catch {
                if case let .noKernels(input, architecture, _, _) = error.problem, case let .noKernels(wanted, arch, _, _) = problem {
                    #expect(input == wanted && architecture == arch)  // the counts are the tree scan's
                } else {
                    #expect(error.problem == problem)
                }
                #expect(!error.description.contains("--"), "\(error)")
            }
        }
    }

    @Test("an object without CO-RE relocations is accepted with a warning", .requiresSharedArchive)
    func objectWithoutCORERelocations() throws {
        try TestSupport.requireSharedArchive()
        let tool = try BTFTrimTool.path()
        let dir = try TemporaryDirectory()
        let source = dir.path + "/plain.bpf.c"
        try "int counter; __attribute__((section(\"xdp\"), used)) int pass(void *ctx) { counter++; return 2; }\n"
            .write(toFile: source, atomically: true, encoding: .utf8)
        let object = dir.path + "/plain.bpf.o"
        let compiled = try TestSupport.run("clang", ["-g", "-O2", "-target", "bpf", "-c", source, "-o", object])
        try #require(compiled.status == 0, "clang: \(compiled.stderr)")
        let kernel = try TestSupport.extractedKernel(TestSupport.sharedArchive + "/" + Self.goodArchives[0])
        let result = try TestSupport.run(tool, [object, kernel, "-o", dir.path + "/out.btf"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("warning: \(object): no CO-RE relocations"))
        #expect(FileManager.default.fileExists(atPath: dir.path + "/out.btf"))
    }

    // MARK: - The library

    @Test("Sweep.run reports progress once per kernel and gives the same results with 1 job and with 3", .requiresSharedArchive)
    func libraryJobsAgree() async throws {
        try TestSupport.requireSharedArchive()
        let objects = try Sweep.loadObjects(try TestSupport.compiledBPFObjects())
        let tree = try TestTree()
        var reports: [SweepReport] = []
        for jobs in [1, 3] {
            let output = tree.output + "-\(jobs)"
            var progress: [Int] = []
            var names: Set<String> = []
            let sweep = Sweep(objects: objects, options: SweepOptions(jobs: jobs))
            let report = try await sweep.run(input: tree.input, output: output) { update in
                progress.append(update.completed)
                names.insert(update.result.name)
                #expect(update.total == 5)
            }
            #expect(progress == [1, 2, 3, 4, 5])
            #expect(names.count == 5)
            #expect(report.kernels.map(\.name) == report.kernels.map(\.name).sorted())
            #expect(report.failures.map(\.inputPath) == [tree.input + "/" + Self.badArchive])
            #expect(report.skippedFiles == ["README.md"])
            #expect(report.trimmed.allSatisfy { $0.outputBytes > 0 && $0.outputBytes < $0.inputBytes })
            reports.append(report)
        }
        #expect(reports[0].kernels.map(\.outputBytes) == reports[1].kernels.map(\.outputBytes))
        #expect(reports[0].kernels.map(\.resolvedRelocations) == reports[1].kernels.map(\.resolvedRelocations))
        for relative in tree.expectedOutputs {
            let one = try Data(contentsOf: URL(fileURLWithPath: tree.output + "-1/" + relative))
            let three = try Data(contentsOf: URL(fileURLWithPath: tree.output + "-3/" + relative))
            #expect(one == three, "\(relative) depends on --jobs")
        }
    }

    @Test("an output tree inside the input tree is not read back as input on the next run", .requiresSharedArchive)
    func outputInsideInput() async throws {
        try TestSupport.requireSharedArchive()
        let objects = try Sweep.loadObjects(try TestSupport.compiledBPFObjects())
        let tree = try TestTree()
        let nested = tree.input + "/trimmed"
        for _ in 0 ..< 2 {
            let report = try await Sweep(objects: objects, options: SweepOptions(jobs: 2)).run(input: tree.input, output: nested)
            #expect(report.kernels.count == 5)
            #expect(report.warnings.isEmpty, "\(report.warnings)")
            #expect(report.skippedFiles == ["README.md"])
        }
        #expect(try Self.files(under: nested) == (tree.expectedOutputs + [PackMetadata.memberName]).sorted())
    }

    // MARK: - Helpers

    /// Regular files under `root`, relative and sorted; hidden ones (temporary files) only when asked.
    static func files(under root: String, includeHidden: Bool = false) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        return walker.compactMap { $0 as? String }.filter { relative in
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory)
            let hidden = (relative as NSString).lastPathComponent.hasPrefix(".")
            return !isDirectory.boolValue && (includeHidden || !hidden)
        }.sorted()
    }

    static func snapshot(_ root: String, _ files: [String]) throws -> [String: (bytes: Data, inode: UInt64)] {
        var result: [String: (bytes: Data, inode: UInt64)] = [:]
        for relative in files {
            let path = root + "/" + relative
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            result[relative] = (try Data(contentsOf: URL(fileURLWithPath: path)), (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0)
        }
        return result
    }
}
