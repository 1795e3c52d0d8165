import ArgumentParser
import Archive
import BTF
import CLinuxShims
import CommandSupport
import Trim
import Glibc

/// `btf-trim OBJ... INPUT -o OUT`: trims kernel BTF down to what BPF objects' CO-RE relocations need.
/// Parses the command line, runs `Sweep`, prints; the work is in the Trim library.
@main
struct BTFTrimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "btf-trim",
        abstract: "Trim kernel BTF to what BPF objects' CO-RE relocations need (bpftool gen min_core_btf, for a whole btfhub tree).",
        usage: "btf-trim OBJ... INPUT -o OUT [--module MOD]... [--jobs N] [--arch ARCH] [--max-kernel-size MiB] [--verbose]\n"
            + "                [--report FILE.json] [--report-html FILE] [--report-summary] [--require-all]\n"
            + "                [--cache DIR] [--cache-max-size SIZE]",
        discussion: """
        INPUT is either a btfhub tree, or a single kernel file.

        A btfhub tree is any directory holding <distro>/<version>/<arch>/<release>.btf.tar.xz (or raw \
        <release>.btf) files: the top of btfhub-archive, or a distro, version or arch directory inside \
        it. OUT then becomes a directory mirroring it with raw BTF files, \
        OUT/<distro>/<version>/<arch>/<release>.btf. Other files are skipped. Kernels are processed in \
        parallel, at most --jobs of them in memory at once; each output file is replaced atomically.

        A single kernel file is raw BTF, an ELF vmlinux with a .BTF section, or a .btf.tar.xz; OUT is \
        then the output file, as with bpftool gen min_core_btf.

        Modules: with a single kernel file, --module MOD (a .ko, its raw split BTF, or a .btf.tar.xz \
        holding it; repeatable) adds a module's types, as libbpf searches them on a running kernel: \
        vmlinux candidates first, a module's only where vmlinux has none. OUT is one standalone BTF \
        with the needed vmlinux and module types, renumbered, for bpf_object_open_opts.btf_custom_path. \
        In a btfhub tree, --with-modules does the same for every kernel with a directory \
        <distro>/<version>/<arch>/<release>.modules/ beside it holding <module>.btf.tar.xz, \
        <module>.btf or <module>.ko files (the layout of btfhub-fixtures/).

        A kernel that cannot be trimmed (corrupt archive, bad BTF) is reported with the reason while \
        the others complete. Exit status: 0 all kernels trimmed, 1 some kernel failed (or, with \
        --require-all, some program does not load on some kernel), 2 usage error (bad flags, \
        missing or unreadable objects or INPUT, no kernels found).

        Cache: --cache DIR (or the environment variable BTFKIT_CACHE) keeps each kernel's decompressed \
        BTF in DIR, keyed by the SHA-256 of its .btf.tar.xz, so that a repeat run over the same archives \
        skips xz: the same outputs, several times faster. Entries are checked on every read (a damaged one \
        is rebuilt), written atomically, and shared safely by runs at the same time; the least recently \
        used are removed once DIR exceeds --cache-max-size (default 2G). Hits, misses and bytes are \
        printed at the end.

        Coverage: --report, --report-html and --report-summary tell, before shipping, on which kernels \
        each program loads (L), loads with its poisoned reads guarded (G), is rejected because the \
        verifier reaches a poisoned instruction (X) or fails relocation (F), and per relocation where \
        it is poisoned, ambiguous or failed and where an existence check is 0. See docs/report.md.

        Examples:
          btf-trim prog.bpf.o btfhub-archive -o trimmed
          btf-trim a.bpf.o b.bpf.o btfhub-archive/ubuntu --arch x86_64 -o trimmed --jobs 4
          btf-trim prog.bpf.o btfhub-archive -o trimmed --report coverage.json --report-html coverage.html --report-summary --require-all
          btf-trim prog.bpf.o btfhub-archive -o trimmed --cache ~/.cache/btfkit --cache-max-size 4G
          btf-trim prog.bpf.o /sys/kernel/btf/vmlinux -o vmlinux.min.btf
          btf-trim prog.bpf.o vmlinux.btf --module nf_conntrack.ko -o vmlinux+nf_conntrack.min.btf
          btf-trim prog.bpf.o centos/8/x86_64/4.18.0-147.el8.x86_64.btf.tar.xz -o 4.18.0-147.btf
        """)

    @Argument(help: ArgumentHelp("BPF objects (compiled with clang -g -target bpf), then INPUT.",
                                 valueName: "OBJ... INPUT"))
    var paths: [String] = []

    @Option(name: .shortAndLong, help: ArgumentHelp("Output directory (tree INPUT) or file (single kernel INPUT).", valueName: "OUT"))
    var output: String

    @Option(name: .shortAndLong, help: ArgumentHelp("Kernels processed in parallel, and the most held in memory at once "
                                                    + "(default: the number of cores; more than that only queues work).", valueName: "N"))
    var jobs: Int = SweepOptions.defaultJobs

    @Option(help: ArgumentHelp("Only kernels of this btfhub architecture (x86_64, arm64; aarch64 means arm64).", valueName: "ARCH"))
    var arch: String?

    @Option(name: .customLong("max-kernel-size"),
            help: ArgumentHelp("Largest raw BTF accepted per kernel, in MiB; a guard against decompression bombs.", valueName: "MiB"))
    var maxKernelSizeMiB: Int = KernelArchive.defaultMaxDecompressedSize >> 20

    @Option(name: .customLong("max-type-section"),
            help: ArgumentHelp("Largest type section accepted per kernel, in MiB, checked before parsing: bounds each kernel's "
                               + "memory (real kernels: at most 43 MB). A kernel over it fails alone.", valueName: "MiB"))
    var maxTypeSectionMiB: Int = SweepOptions.defaultMaxTypeSectionSize >> 20
    @Option(name: .customLong("module"),
            help: ArgumentHelp("A kernel module (.ko, raw split BTF or .btf.tar.xz) split against the single kernel INPUT; repeatable.",
                               valueName: "MOD"))
    var modules: [String] = []

    @Flag(name: .customLong("with-modules"),
          help: "In a btfhub tree, also read the modules in <release>.modules/ beside each kernel (as --module does for one kernel).")
    var withModules = false

    @Flag(name: .shortAndLong, help: "Print one line per kernel and the relocations libbpf would reject.")
    var verbose = false

    @Option(name: .customLong("report"),
            help: ArgumentHelp("Write the coverage report as JSON: every relocation's outcome on every kernel, "
                               + "with summaries per relocation, kernel and distro version (docs/report.md).", valueName: "FILE.json"))
    var reportJSON: String?

    @Option(name: .customLong("report-html"),
            help: ArgumentHelp("Write the coverage report as one self-contained HTML page (heat map and tables).", valueName: "FILE"))
    var reportHTML: String?

    @Flag(name: .customLong("report-summary"),
          help: "Print which programs do not load on which kernels and why, worst first, then the relocations, at the end of the run.")
    var reportSummary = false

    @Flag(name: .customLong("require-all"),
          help: ArgumentHelp("Exit with status 1 when some program does not load on some kernel: a poisoned instruction "
                             + "is reachable (X) or a relocation fails (F). Guarded poisoned reads and existence checks that are 0 are fine."))
    var requireAll = false

    @Option(name: .customLong("cache"),
            help: ArgumentHelp("Keep kernels' decompressed BTF in DIR between runs, keyed by each archive's content "
                               + "(default: $BTFKIT_CACHE; none if unset).", valueName: "DIR"))
    var cacheDirectory: String?

    @Option(name: .customLong("cache-max-size"),
            help: ArgumentHelp("Most bytes the cache may hold; the least recently used entries go first "
                               + "(K, M, G, T suffixes, powers of 1024; default 2G).", valueName: "SIZE"))
    var cacheMaxSize: String?

    func validate() throws {
        guard paths.count >= 2 else {
            throw ValidationError(paths.isEmpty ? "missing BPF objects and INPUT" : "missing INPUT or BPF objects: give OBJ... INPUT")
        }
        guard jobs >= 1, jobs <= SweepOptions.maxJobs else { throw ValidationError("--jobs must be at least 1 and at most \(SweepOptions.maxJobs)") }
        guard maxKernelSizeMiB >= 1, maxKernelSizeMiB <= Int.max >> 20 else { throw ValidationError("--max-kernel-size must be a positive number of MiB") }
        guard maxTypeSectionMiB >= 1, maxTypeSectionMiB <= Int.max >> 20 else { throw ValidationError("--max-type-section must be a positive number of MiB") }
        if let cacheMaxSize, KernelCache.parseSize(cacheMaxSize) == nil {
            throw ValidationError("--cache-max-size: '\(escapedForTerminal(cacheMaxSize))' is not a size; give a positive number of bytes "
                                  + "with an optional K, M, G or T suffix (e.g. 512M, 2G)")
        }
    }

    /// The cache directory: --cache, else $BTFKIT_CACHE (empty means none).
    var cachePath: String? {
        if let cacheDirectory { return cacheDirectory }
        guard let value = getenv(KernelCache.environmentVariable) else { return nil }
        let path = String(cString: value)
        return path.isEmpty ? nil : path
    }

    /// Like ArgumentParser's `main`, except that every usage error exits with status 2.
    static func main() async {
        // ^C during a sweep removes the temporary files being written: only complete outputs remain.
        InterruptCleanup.install()
        keepFreedMemory()
        let command: BTFTrimCommand
        do {
            command = try parse()
        } catch {
            // --help and --version are "errors" that exit 0; ArgumentParser prints them.
            if exitCode(for: error) == .success { exit(withError: error) }
            printError(fullMessage(for: error))
            Glibc.exit(2)
        }
        Glibc.exit(await command.sweep())
    }

    /// A sweep allocates and frees a few buffers of each kernel's size (up to 44 MB), kernel after
    /// kernel. By default glibc maps each one afresh and unmaps it when freed, so every kernel's
    /// bytes are page-faulted and zeroed by the kernel again; kept in the heap and not trimmed, the
    /// memory is reused instead. Measured over the 85 shared kernels with 53 objects (`--jobs 2`,
    /// idle): 11.2-11.5 s CPU before, 10.4 s after; peak RSS 210-245 MB before, 287 MB after.
    /// glibc still maps an allocation that no heap can hold.
    static func keepFreedMemory() {
        _ = btfkit_keep_freed_memory()
    }

    /// A sweep usage error, with the flag that sets each option it names.
    static func message(for error: SweepUsageError) -> String {
        let flags = ["jobs": "--jobs", "modules": "--module", "modulesBesideKernels": "--with-modules", "arch": "--arch"]
        return escapedForTerminal(error.describe { flags[$0] ?? $0 })
    }

    /// Runs the sweep and returns the exit status.
    func sweep() async -> Int32 {
        var console = SweepConsole()
        let sweep: Sweep
        do {
            // Before anything is read: no output may be an input or another output (`-o p.o`,
            // `--report x.btf -o x.btf`), nor a device or FIFO.
            let reports = [reportJSON, reportHTML].compactMap { $0 }
            var status = stat()
            let fileOutputs = (stat(output, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR) ? reports : [output] + reports
            try FileIO.checkOutputs(fileOutputs, against: paths)
            for report in reports { try FileIO.checkOutputPath(report) }
        } catch {
            console.print("error: \(error)")
            return 2
        }
        var cache: KernelCache?
        if let cachePath {
            do {
                cache = try KernelCache(directory: cachePath,
                                        maxSize: cacheMaxSize.flatMap(KernelCache.parseSize) ?? KernelCache.defaultMaxSize)
            } catch {
                console.print("error: --cache: \(error)")
                return 2
            }
        }
        do {
            let objects = try Sweep.loadObjects(Array(paths.dropLast()))
            sweep = Sweep(objects: objects, options: SweepOptions(jobs: jobs, arch: arch, maxKernelSize: maxKernelSizeMiB << 20,
                                                                  maxTypeSectionSize: maxTypeSectionMiB << 20,
                                                                  modules: modules, modulesBesideKernels: withModules, cache: cache))
        } catch {
            console.print("error: \(Self.message(for: error))")
            return 2
        }
        for warning in sweep.objectWarnings { console.print("warning: \(warning)") }
        let report: SweepReport
        do {
            report = try await sweep.run(input: paths.last!, output: output) { console.show($0) }
        } catch {
            console.print("error: \(Self.message(for: error))")
            return 2
        }
        for warning in report.warnings.dropFirst(sweep.objectWarnings.count) { console.print("warning: \(warning)") }
        if verbose {
            for kernel in report.kernels {
                console.print(escapedForTerminal(kernel.succeeded
                    ? "\(kernel.name): \(kernel.inputBytes) -> \(kernel.outputBytes) bytes, \(kernel.resolvedRelocations) resolved, "
                        + "\(kernel.poisonedRelocations) poisoned, \(kernel.rejectedRelocations.count) rejected"
                    : "\(kernel.name): FAILED: \(kernel.failure ?? "")"))
                for rejected in kernel.rejectedRelocations { console.print(escapedForTerminal("  rejected: \(rejected)")) }
            }
        }
        console.print(report.summary)
        if let problem = cache?.writeProblem { console.print("warning: some cache entries could not be written, e.g. \(problem)") }
        var status: Int32 = 0
        if reportJSON != nil || reportHTML != nil || reportSummary || requireAll {
            let coverage = CoverageReport(sweep: report)
            if reportSummary { console.print(coverage.terminalSummary()) }
            do {
                if let path = reportJSON { try coverage.writeJSON(to: path) }
                if let path = reportHTML { try coverage.writeHTML(to: path) }
            } catch {
                console.print("error: cannot write the report: \(error)")
                status = 1
            }
            if requireAll, let message = coverage.requireAllFailure() {
                console.print("error: --require-all: " + message)
                status = 1
            }
        }
        let failures = report.failures
        if !failures.isEmpty {
            console.print("failed kernels (\(failures.count)):")
            for failure in failures { console.print("  " + escapedForTerminal("\(failure.inputPath): \(failure.failure ?? "")")) }
            return 1
        }
        return status
    }
}
