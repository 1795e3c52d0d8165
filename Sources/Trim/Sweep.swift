import Archive
import BTF
import CORE
import Dispatch
import Glibc

/// How a sweep runs.
public struct SweepOptions: Sendable {
    /// Kernels processed at the same time; also the most kernels held in memory at once.
    public var jobs: Int
    /// Keep only kernels of this btfhub architecture (`x86_64`, `arm64`; `aarch64` means `arm64`).
    public var arch: String?
    /// The largest raw BTF (and archive expansion) accepted per kernel.
    public var maxKernelSize: Int
    /// The largest type section accepted per kernel, checked before the types are parsed: parsing
    /// costs about twice the section in memory, so this bounds a kernel's memory by what real
    /// kernels need rather than by `maxKernelSize` (a 126 KB archive can expand to 504 MB of types).
    public var maxTypeSectionSize: Int
    /// Kernel modules (`.ko`, raw split BTF or `.btf.tar.xz`) whose BTF is split against a single
    /// kernel INPUT: their types are candidates as libbpf searches them (vmlinux first, modules
    /// only where vmlinux has none), and the output is one standalone BTF holding both.
    public var modules: [String]
    /// In a btfhub tree: also read the modules in `<release>.modules/` beside each kernel
    /// (`<module>.btf.tar.xz`, `<module>.btf` or `<module>.ko`), as `modules` does for one kernel.
    public var modulesBesideKernels: Bool
    /// Where kernels' raw BTF is kept between runs (`--cache`), so that repeat runs skip xz.
    public var cache: KernelCache?

    public init(jobs: Int = SweepOptions.defaultJobs, arch: String? = nil,
                maxKernelSize: Int = KernelArchive.defaultMaxDecompressedSize,
                maxTypeSectionSize: Int = SweepOptions.defaultMaxTypeSectionSize, modules: [String] = [],
                modulesBesideKernels: Bool = false, cache: KernelCache? = nil) {
        self.cache = cache
        self.jobs = jobs
        self.arch = arch
        self.maxKernelSize = maxKernelSize
        self.maxTypeSectionSize = maxTypeSectionSize
        self.modules = modules
        self.modulesBesideKernels = modulesBesideKernels
    }

    /// 128 MiB: three times the type section of the largest btfhub kernel (CentOS 8's
    /// 4.18.0-147, 42.6 MB, not deduplicated).
    public static let defaultMaxTypeSectionSize = 128 << 20

    /// The most kernels processed at once: far above any machine's cores; more only queues work.
    public static let maxJobs = 1024

    /// The number of online processors.
    public static var defaultJobs: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}

/// A problem with how the sweep was asked for (missing or unreadable objects or input, an output that
/// cannot be used, no kernels to process): nothing was trimmed. Command-line tools exit with 2.
public struct SweepUsageError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, so that a front end can name the option that fixes it.
    public enum Problem: Sendable, Equatable {
        /// `SweepOptions.jobs` is outside `1 ... SweepOptions.maxJobs`.
        case jobsOutOfRange(Int)
        /// `SweepOptions.modules` were given with a btfhub tree as input.
        case modulesNeedKernelFile(input: String)
        /// `SweepOptions.modulesBesideKernels` was set with a single kernel file as input.
        case modulesBesideKernelsNeedTree
        /// `SweepOptions.arch` was given with a single kernel file as input.
        case architectureNeedsTree(input: String)
        /// The tree holds no kernel (of `architecture`, when one was asked for).
        case noKernels(input: String, architecture: String?, otherArchitectures: Int, skippedFiles: Int)
        /// Anything else, said in full.
        case other(String)
    }

    public var problem: Problem

    public init(_ problem: Problem) { self.problem = problem }
    public init(_ description: String) { problem = .other(description) }

    /// The problem, in terms of `SweepOptions`; btf-trim says it with its flags.
    public var description: String {
        escapedForTerminal(describe { option in "the \(option) option" })
    }

    /// The problem with each option named by `optionName` (given `jobs`, `modules`,
    /// `modulesBesideKernels` or `arch`, the `SweepOptions` field).
    public func describe(naming optionName: (String) -> String) -> String {
        switch problem {
        case .jobsOutOfRange(let jobs):
            return "\(optionName("jobs")) must be at least 1 and at most \(SweepOptions.maxJobs) (got \(jobs))"
        case .modulesNeedKernelFile(let input):
            return "\(optionName("modules")) applies to a single kernel file INPUT; \(input) is a directory"
        case .modulesBesideKernelsNeedTree:
            return "\(optionName("modulesBesideKernels")) reads <release>.modules/ in a btfhub tree; give modules of a single kernel with \(optionName("modules"))"
        case .architectureNeedsTree(let input):
            return "\(optionName("arch")) filters a btfhub tree; INPUT \(input) is a single kernel file"
        case let .noKernels(input, architecture, otherArchitectures, skippedFiles):
            let filter = architecture.map { " for \(optionName("arch")) \($0) (\(otherArchitectures) of other architectures)" } ?? ""
            return "\(input): no kernels found\(filter): expected <distro>/<version>/<arch>/<release>.btf.tar.xz or .btf files"
                + (skippedFiles == 0 ? "" : " (\(skippedFiles) other files skipped)")
        case .other(let text):
            return text
        }
    }
}

/// Something the user should know that does not stop the sweep (an object without CO-RE relocations,
/// skipped duplicates ...).
public struct SweepWarning: Sendable, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = escapedForTerminal(description) }
}

/// A BPF object of the sweep, read once.
public struct SweepObject: Sendable {
    public var object: BPFObject
    /// The CO-RE relocation records in its `.BTF.ext` (0 when it has none).
    public var relocationCount: Int
}

/// Progress of a running sweep, delivered in completion order.
public struct SweepProgress: Sendable {
    /// The kernel just finished (trimmed or failed).
    public var result: KernelSweepResult
    /// Kernels finished so far, including this one.
    public var completed: Int
    public var total: Int
}

/// Trims every kernel of a btfhub tree (or one kernel file) for a set of BPF objects, the way
/// `bpftool gen min_core_btf` does for one kernel: in parallel, at most `jobs` kernels in memory,
/// every output written atomically, a kernel that fails reported while the others complete.
public struct Sweep: Sendable {
    public let objects: [SweepObject]
    public let options: SweepOptions
    /// Notes about the objects (no CO-RE relocations ...), from `load(objectPaths:)`.
    public let objectWarnings: [SweepWarning]

    public init(objects: [BPFObject], options: SweepOptions = SweepOptions()) {
        var warnings: [SweepWarning] = []
        self.objects = objects.map { object in
            let count = object.ext?.coreRelocations.reduce(0) { $0 + $1.records.count } ?? 0
            if count == 0 {
                let why = object.ext == nil ? "no .BTF.ext section" : "no CO-RE relocations in .BTF.ext"
                warnings.append(SweepWarning(description: "\(object.path): \(why); it adds nothing to the trimmed BTF"))
            }
            // What would crash or hang libbpf 1.1 (`0:-1` access strings, local cycles): reported here;
            // `btf-pack runner` and `btf-run` refuse such an object.
            for hazard in object.libbpfHazards() {
                warnings.append(SweepWarning(description: "\(hazard) (btf-pack runner and btf-run refuse this object)"))
            }
            return SweepObject(object: object, relocationCount: count)
        }
        self.options = options
        self.objectWarnings = warnings
    }

    /// Reads every object once. A missing or unreadable object is a usage error.
    public static func loadObjects(_ paths: [String]) throws(SweepUsageError) -> [BPFObject] {
        guard !paths.isEmpty else { throw SweepUsageError("no BPF objects given; name at least one .bpf.o before INPUT") }
        var objects: [BPFObject] = []
        for path in paths {
            do { objects.append(try BPFObject(contentsOf: path)) } catch {
                throw SweepUsageError("cannot use BPF object: \(error.inFile(path))")
            }
        }
        return objects
    }

    /// Trims `input` into `output`.
    ///
    /// `input` is either a btfhub tree (any directory level of `<distro>/<version>/<arch>/<release>.btf.tar.xz`
    /// or `.btf`), and then `output` becomes a directory mirroring it with raw `<release>.btf` files; or
    /// one kernel file (raw BTF, an ELF vmlinux with `.BTF`, or a `.btf.tar.xz`), and then `output` is a
    /// file. `progress` is called once per kernel, in completion order, on the caller's task.
    public func run(input: String, output: String,
                    progress: (SweepProgress) -> Void = { _ in }) async throws(SweepUsageError) -> SweepReport {
        let clock = ContinuousClock()
        let start = clock.now
        let plan = try SweepPlan(input: input, output: output, options: options)
        let trimmer = Trimmer(objects: objects.map(\.object))
        let table: CoverageRelocationTable
        do { table = try CoverageRelocationTable(objects: trimmer.objects) } catch {
            throw SweepUsageError("cannot use BPF object: \(error)")
        }
        let results = await Sweep.process(plan.kernels, trimmer: trimmer, table: table, options: options, progress: progress)
        // Entries the tree walk could not use fail like unreadable kernels: never dropped silently.
        let unusable = plan.unusable.map { entry in
            var result = KernelSweepResult(name: entry.path, inputPath: entry.path, outputPath: "")
            result.failure = entry.reason
            return result
        }
        var report = SweepReport(input: input, output: output, mode: plan.mode, objects: objects, kernels: results + unusable,
                                 warnings: objectWarnings + plan.warnings, skippedFiles: plan.skippedFiles,
                                 filteredOutCount: plan.filteredOutCount, elapsed: clock.now - start)
        report.relocationTable = table
        report.cacheStatistics = options.cache?.statistics
        if plan.mode == .tree {
            // What the tree was trimmed for, which btf-pack carries into the pack (stale-pack check).
            let set = CORERelocationSet(objects: trimmer.objects)
            let metadata = PackMetadata(objects: objects.map { $0.object.path.split(separator: "/").last.map(String.init) ?? $0.object.path },
                                        relocations: set.sorted, digest: set.digest)
            do { try metadata.write(treeAt: output) } catch { report.warnings.append(SweepWarning(description: "\(error)")) }
        }
        return report
    }

    /// Runs `kernels` on at most `options.jobs` child tasks; results come back in input order.
    static func process(_ kernels: [SweepKernel], trimmer: Trimmer, table: CoverageRelocationTable? = nil, options: SweepOptions,
                        progress: (SweepProgress) -> Void) async -> [KernelSweepResult] {
        let maxSize = options.maxKernelSize
        let maxTypeSection = options.maxTypeSectionSize
        let cache = options.cache
        // Largest archives first, so that the last kernels to finish are small ones and no job
        // waits long for the others at the end (the results keep the input order).
        let order = kernels.indices.map { ($0, fileSize(kernels[$0].input)) }.sorted { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.map(\.0)
        let committer = OutputCommitter()
        var results = await withTaskGroup(of: (Int, KernelSweepResult, PendingOutput?).self) { group in
            var results = [KernelSweepResult?](repeating: nil, count: kernels.count)
            var next = 0
            // A new kernel starts only when one finishes, so at most `jobs` kernels are in memory.
            // The work is CPU-bound and holds no locks, so it may occupy a cooperative thread.
            func startNext(_ group: inout TaskGroup<(Int, KernelSweepResult, PendingOutput?)>) {
                guard next < kernels.count else { return }
                let index = order[next]
                let kernel = kernels[index]
                group.addTask {
                    let (result, output) = kernel.trim(with: trimmer, table: table, maxSize: maxSize, maxTypeSection: maxTypeSection, cache: cache)
                    return (index, result, output)
                }
                next += 1
            }
            // Bounded by the kernel count: a huge --jobs must not spin through empty starts.
            for _ in 0 ..< min(max(1, options.jobs), max(1, kernels.count)) { startNext(&group) }
            var completed = 0
            while let (index, result, output) = await group.next() {
                if let output { committer.commit(output, index: index) }
                results[index] = result
                completed += 1
                progress(SweepProgress(result: result, completed: completed, total: kernels.count))
                startNext(&group)
            }
            return results.map { $0! }
        }
        // A kernel is trimmed only once its file is in place.
        for (index, failure) in await committer.finish() { results[index].failOutput(failure) }
        return results
    }
}

/// What a sweep will do: the mode, the kernels with their output paths, what was skipped.
struct SweepPlan {
    var mode: SweepReport.Mode
    var kernels: [SweepKernel] = []
    var warnings: [SweepWarning] = []
    var skippedFiles: [String] = []
    var unusable: [UnusableEntry] = []
    var filteredOutCount = 0

    init(input: String, output: String, options: SweepOptions) throws(SweepUsageError) {
        guard options.jobs >= 1, options.jobs <= SweepOptions.maxJobs else {
            throw SweepUsageError(.jobsOutOfRange(options.jobs))
        }
        guard options.maxKernelSize >= 1 else { throw SweepUsageError("the kernel size limit must be positive") }
        guard let inputKind = FileKind(path: input) else {
            throw SweepUsageError("\(input): input not found (\(errnoText()))")
        }
        let outputKind = FileKind(path: output)
        switch inputKind {
        case .directory:
            mode = .tree
            if !options.modules.isEmpty {
                throw SweepUsageError(.modulesNeedKernelFile(input: input))
            }
            if outputKind == .other { throw SweepUsageError("\(output): exists and is not a directory; with a btfhub tree as INPUT, OUT is a directory") }
            if let realInput = FileIO.realPath(input), FileIO.realPath(output) == realInput {
                throw SweepUsageError("\(output): OUT is the input tree itself; trimmed files would replace the kernels")
            }
            let tree: BTFHubTree
            do { tree = try BTFHubTree(scanning: input, arch: options.arch, excluding: [output]) } catch {
                throw SweepUsageError("\(error)")
            }
            guard !tree.kernels.isEmpty || !tree.unusable.isEmpty else {
                throw SweepUsageError(.noKernels(input: input, architecture: options.arch, otherArchitectures: tree.filteredOutCount,
                                                 skippedFiles: tree.skippedFiles.count))
            }
            do { try makeDirectories(output) } catch { throw SweepUsageError("\(error)") }
            kernels = tree.kernels.map { entry in
                SweepKernel(name: entry.identity.description, input: entry.inputPath,
                            output: BTFHubTree.join(output, entry.identity.btfRelativePath),
                            source: .entry(entry), outputRoot: output,
                            modules: options.modulesBesideKernels ? Self.modules(beside: entry.inputPath) : [])
            }
            unusable = tree.unusable
            warnings = tree.duplicates.map { duplicate in
                SweepWarning(description: "\(duplicate.inputPath): \(duplicate.identity) is already taken from another file; skipped")
            }
            warnings += tree.skippedDirectoryLinks.map { SweepWarning(description: "\(BTFHubTree.join(input, $0)): directory symlink not followed") }
            skippedFiles = tree.skippedFiles
            filteredOutCount = tree.filteredOutCount
        case .other:
            mode = .singleFile
            if options.modulesBesideKernels {
                throw SweepUsageError(.modulesBesideKernelsNeedTree)
            }
            if options.arch != nil { throw SweepUsageError(.architectureNeedsTree(input: input)) }
            if outputKind == .directory {
                throw SweepUsageError("\(output): is a directory; with a single kernel file as INPUT, OUT names the output file")
            }
            let name = input.split(separator: "/").last.map(String.init) ?? input
            // The output must not be an input (an object, the kernel) nor a device or FIFO.
            do { try FileIO.checkOutputPath(output) } catch { throw SweepUsageError("\(error)") }
            for module in options.modules where FileKind(path: module) != .other {
                throw SweepUsageError("\(module): module not found or not a file")
            }
            kernels = [SweepKernel(name: name, input: input, output: output, source: .file, modules: options.modules)]
        }
    }
}

extension SweepPlan {
    /// The module files in `<release>.modules/` beside the kernel file `kernel`, sorted (none if absent).
    static func modules(beside kernel: String) -> [String] {
        let stem = kernel.hasSuffix(".btf.tar.xz") ? String(kernel.dropLast(".btf.tar.xz".count))
            : kernel.hasSuffix(".btf") ? String(kernel.dropLast(".btf".count)) : kernel
        let directory = stem + ".modules"
        guard FileKind(path: directory) == .directory, let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var found: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard !name.hasPrefix("."), name.hasSuffix(".btf.tar.xz") || name.hasSuffix(".btf") || name.hasSuffix(".ko") else { continue }
            let path = directory + "/" + name
            if FileKind(path: path) == .other { found.append(path) }
        }
        return found.sorted()
    }
}

/// One kernel to trim: where it comes from and where its trimmed BTF goes.
struct SweepKernel: Sendable {
    enum Source: Sendable {
        /// A kernel of a btfhub tree.
        case entry(KernelEntry)
        /// A file named on the command line: raw BTF, ELF with `.BTF`, or `.btf.tar.xz`.
        case file
    }
    var name: String
    var input: String
    var output: String
    var source: Source
    /// OUT for a tree: directories below it are created, and never followed when they are symlinks.
    var outputRoot: String? = nil
    /// Modules split against this kernel (single-file INPUT only).
    var modules: [String] = []

    /// Reads, trims and writes this kernel. Never throws: a failure becomes the result's reason.
    /// With a `table`, the result also holds the kernel's coverage (one outcome per relocation).
    /// The output is written but not yet in place: the caller commits it (`OutputCommitter`).
    func trim(with trimmer: Trimmer, table: CoverageRelocationTable? = nil, maxSize: Int,
              maxTypeSection: Int = SweepOptions.defaultMaxTypeSectionSize,
              cache: KernelCache? = nil) -> (KernelSweepResult, PendingOutput?) {
        let clock = ContinuousClock()
        let start = clock.now
        var result = KernelSweepResult(name: name, inputPath: input, outputPath: output)
        if case .entry(let entry) = source { result.identity = entry.identity }
        result.compressedBytes = fileSize(input)
        var pending: PendingOutput?
        do {
            let kernel = try readKernel(maxSize: maxSize, maxTypeSection: maxTypeSection, cache: cache, into: &result)
            let trimmed = try trimmer.trim(kernel: kernel)
            let bytes = trimmed.minimized.serialized()
            if let slash = output.lastIndex(of: "/") { try makeDirectories(String(output[..<slash]), below: outputRoot) }
            let file = try FileIO.AtomicFile(replacing: output)
            try file.write(bytes)
            pending = PendingOutput(file: file)
            result.outputBytes = bytes.count
            result.tally(trimmed.relocations, objects: trimmer.objects)
            if let table { result.coverage = table.classify(trimmed.relocations) }
            result.failure = nil
        } catch {
            result.failure = "\(error)"
            pending = nil   // removes its temporary file
        }
        result.elapsed = clock.now - start
        return (result, pending)
    }

    /// The kernel's BTF; the raw bytes are dropped (a cache entry unmapped) as soon as they are parsed.
    private func readKernel(maxSize: Int, maxTypeSection: Int, cache: KernelCache?, into result: inout KernelSweepResult) throws -> BTF {
        let kernel: BTF
        let isArchive: Bool
        switch source {
        case .entry(let entry): isArchive = entry.format == .compressedArchive
        case .file: isArchive = input.hasSuffix(".tar.xz")
        }
        if isArchive, let cache {
            kernel = try cache.withBTF(fromArchive: input, maxDecompressedSize: maxSize) { bytes in
                try parseKernel(bytes, maxTypeSection: maxTypeSection, into: &result)
            }
        } else if isArchive {
            // Decompressed straight into the kernel's arrays (a cache, when there is one, keeps the bytes).
            switch try KernelArchive.readBTFBlob(fromArchive: input, maxDecompressedSize: maxSize).contents {
            case .sections(let sections):
                result.inputBytes = sections.blobSize
                try refuseLargeTypeSection(sections.typeSectionLength, limit: maxTypeSection)
                kernel = try BTF(sections: sections, file: input)
            case .bytes(let bytes):
                kernel = try bytes.withUnsafeBytes { bytes in try parseKernel(bytes, maxTypeSection: maxTypeSection, into: &result) }
            }
        } else if case .entry(let entry) = source {
            kernel = try entry.withBTFBytes(maxSize: maxSize) { bytes in try parseKernel(bytes, maxTypeSection: maxTypeSection, into: &result) }
        } else {
            let bytes = try FileIO.read(input, limit: maxSize)
            kernel = try bytes.withUnsafeBytes { bytes in try parseKernel(bytes, maxTypeSection: maxTypeSection, into: &result) }
        }
        guard !modules.isEmpty else { return kernel }
        let split = try modules.map { path in try Self.readModule(path, base: kernel, maxSize: maxSize) }
        return try BTF.combining(modules: split)
    }

    /// A kernel's BTF from its raw bytes (raw BTF, or an ELF file's `.BTF`), refusing a type section
    /// over `maxTypeSection` before parsing it.
    private func parseKernel(_ bytes: UnsafeRawBufferPointer, maxTypeSection: Int, into result: inout KernelSweepResult) throws -> BTF {
        result.inputBytes = bytes.count
        let file = input
        if let typeLength = BTF.typeSectionLength(bytes) { try refuseLargeTypeSection(typeLength, limit: maxTypeSection) }
        if ELFFile.isELF(Array(bytes.prefix(4))) { return try BTF(elf: try ELFFile(parsing: Array(bytes), file: file)) }
        return try BTF(parsing: bytes, file: file)
    }

    private func refuseLargeTypeSection(_ typeLength: Int, limit: Int) throws(BTFError) {
        guard typeLength > limit else { return }
        throw BTFError("its type section is \(typeLength) bytes, more than the limit of \(limit) bytes "
                       + "(--max-type-section); not parsed", file: input)
    }

    /// A module's split BTF: the `.BTF` of a `.ko`, raw split BTF, or a `.btf.tar.xz` holding it.
    private static func readModule(_ path: String, base: BTF, maxSize: Int) throws -> BTF {
        let bytes = path.hasSuffix(".tar.xz")
            ? try KernelArchive.readBTF(fromArchive: path, maxDecompressedSize: maxSize).bytes
            : try FileIO.read(path, limit: maxSize)
        if ELFFile.isELF(bytes) { return try BTF(elf: try ELFFile(parsing: bytes, file: path), base: base) }
        return try BTF(parsing: bytes, file: path, base: base)
    }
}

/// What is at a path: a directory or something else (`nil`: nothing, or it cannot be reached).
private enum FileKind {
    case directory, other
    init?(path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        self = (status.st_mode & S_IFMT) == S_IFDIR ? .directory : .other
    }
}

private func fileSize(_ path: String) -> Int {
    var status = stat()
    return stat(path, &status) == 0 ? Int(status.st_size) : 0
}

/// `mkdir -p`: creates `path` and its missing parents. Safe when several workers create the same one.
/// Below `root` (OUT), a directory that is a symbolic link is refused: writes stay inside OUT.
private func makeDirectories(_ path: String, below root: String? = nil) throws(SweepUsageError) {
    var prefix = path.hasPrefix("/") ? "/" : ""
    let rootDepth = root.map { $0.split(separator: "/").count }
    for (depth, component) in path.split(separator: "/").enumerated() {
        prefix += component
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
            throw SweepUsageError("\(prefix): cannot create directory: \(errnoText())")
        }
        var status = stat()
        if let rootDepth, depth >= rootDepth, lstat(prefix, &status) == 0, (status.st_mode & S_IFMT) == S_IFLNK {
            throw SweepUsageError("\(prefix): a symbolic link inside the output directory; not followed out of it")
        }
        prefix += "/"
    }
    guard FileKind(path: path) == .directory else { throw SweepUsageError("\(path): exists and is not a directory") }
}

/// A kernel's trimmed BTF, written to its temporary file, waiting to be synced and renamed into
/// place. Handed from the worker that wrote it to the committer, which alone uses it afterwards.
struct PendingOutput: @unchecked Sendable {
    let file: FileIO.AtomicFile
}

/// Syncs and renames outputs into place (`AtomicFile.commit`) on a thread of its own, so that the
/// workers do not wait for the disk (fsync blocks for milliseconds per file, which otherwise
/// leaves a core idle). Commits happen in the order given; `finish` waits for all of them.
final class OutputCommitter: @unchecked Sendable {
    private let queue = DispatchQueue(label: "btf-trim.output-commit")
    /// Written on `queue` only; read after `finish` has drained it.
    private var failures: [(index: Int, failure: String)] = []

    func commit(_ output: PendingOutput, index: Int) {
        queue.async {
            do { try output.file.commit() } catch { self.failures.append((index, "\(error)")) }
        }
    }

    /// Waits for every commit; returns the ones that failed, with why.
    func finish() async -> [(index: Int, failure: String)] {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in queue.async { done.resume() } }
        return queue.sync { failures }
    }
}
