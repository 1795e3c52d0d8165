import Archive
import BTF
import BTFRuntime
import Glibc

/// The BTF a run relocates against, why it was chosen, and what keeps it available (a memfd or
/// temporary file) until `release()`.
public final class ChosenBTF {
    /// Where the BTF comes from.
    public enum Source: Sendable, Equatable {
        /// The kernel's own `/sys/kernel/btf/vmlinux` (libbpf finds it; no custom path).
        case kernel
        /// A file named on the command line (`--btf`) or by `BTFKIT_BTF`.
        case file(String)
        /// An entry of the pack embedded in the executable (or of another pack).
        case packEntry(KernelIdentity, pack: String)
        /// A kernel of an unpacked btfhub tree (`--btfhub`).
        case treeEntry(KernelIdentity, path: String)
    }

    /// Where the BTF comes from.
    public let source: Source
    /// Why it was chosen, for `-v` (for a file the run was given, in words naming no option).
    public let reason: String
    /// The input of the run that named it (a BTF file), or `nil` when the runtime or a tree chose it.
    public let input: RunInput?
    /// The selection trail (each step tried, the decision, warnings) when BTFRuntime chose from a
    /// pack or `--btfhub` from a tree.
    public var trail: [String] { runtimeBTF?.selection.explanation ?? treeTrail }
    /// `bpf_object_open_opts.btf_custom_path`, or `nil` for the kernel's own BTF.
    public let customPath: String?
    private let runtimeBTF: RuntimeBTF?
    private let treeTrail: [String]
    /// The memfd (or temporary file) holding a compressed tree entry's BTF.
    private var exposedFile: ExposedBTFFile?

    init(source: Source, reason: String, input: RunInput? = nil, customPath: String?, runtimeBTF: RuntimeBTF? = nil,
         exposedFile: ExposedBTFFile? = nil, treeTrail: [String] = []) {
        self.source = source
        self.reason = reason
        self.input = input
        self.customPath = customPath
        self.runtimeBTF = runtimeBTF
        self.exposedFile = exposedFile
        self.treeTrail = treeTrail
    }

    deinit { release() }

    /// Closes the memfd or removes the temporary file. Call it after the object is closed.
    public func release() {
        runtimeBTF?.release()
        exposedFile?.release()
        exposedFile = nil
    }

    /// One line for `-v`: which BTF and why.
    public var summary: String { summary(reason: reason) }

    /// `summary` with `reason` in a front end's words (naming its option for `input`).
    public func summary(reason: String) -> String {
        let what: String
        switch source {
        case .kernel: what = "the kernel's own (/sys/kernel/btf/vmlinux)"
        case .file(let path): what = "file \(path)"
        case .packEntry(let identity, let pack): what = "embedded entry \(identity.btfRelativePath) from \(pack)"
        case .treeEntry(let identity, let path): what = "btfhub tree entry \(identity.btfRelativePath) (\(path))"
        }
        return "BTF: \(what)" + (customPath.map { ", given to libbpf as \($0)" } ?? "") + "; \(reason)"
    }

    /// Chooses the BTF for a run.
    ///
    /// - `btfFile` (`--btf`): that file, always.
    /// - `btfhubTree` (`--btfhub`): BTFRuntime's policy with the tree in place of a pack:
    ///   `BTFKIT_BTF`, then the kernel's own BTF (unless `BTFKIT_FORCE_EMBEDDED=1`), then the entry
    ///   the selection chain picks among the tree's kernels.
    /// - otherwise `RuntimeBTF.ensure` with `pack` (by default the executable's own `.btfkit.pack`).
    ///
    /// `options.hostRoot` (`--host-root`) applies to both the pack and the tree.
    public static func choose(btfFile: String?, btfhubTree: String?, pack: PackSource = .embedded,
                              options: RuntimeBTFOptions = RuntimeBTFOptions()) throws(BPFLoaderError) -> ChosenBTF {
        if let btfFile {
            guard access(btfFile, R_OK) == 0 else {
                throw BPFLoaderError("cannot read it: \(errnoText(errno))", errnoCode: errno, input: RunInput(.btfFile, btfFile))
            }
            try checkBeforeLibbpf(file: btfFile, input: RunInput(.btfFile, btfFile))
            return ChosenBTF(source: .file(btfFile), reason: "given for this run", input: RunInput(.btfFile, btfFile), customPath: btfFile)
        }
        let forced = options.environmentFlag(RuntimeBTFOptions.forceEmbeddedVariable)
        let kernelHasBTF = access(options.kernelBTFPath, R_OK) == 0
        let noKernelBTF = forced ? "\(RuntimeBTFOptions.forceEmbeddedVariable)=1 asks not to use the kernel's own BTF"
                                 : "\(options.kernelBTFPath) is absent, so the kernel has no BTF of its own"
        if let btfhubTree {
            if let path = options.nonEmptyEnvironmentValue(RuntimeBTFOptions.btfOverrideVariable) {
                guard access(path, R_OK) == 0 else { throw BPFLoaderError("\(RuntimeBTFOptions.btfOverrideVariable)=\(path): cannot read it: \(errnoText(errno))", errnoCode: errno) }
                try checkBeforeLibbpf(file: path, what: "\(RuntimeBTFOptions.btfOverrideVariable)=\(path)", input: nil)
                return ChosenBTF(source: .file(path), reason: "named by \(RuntimeBTFOptions.btfOverrideVariable)", customPath: path)
            }
            if kernelHasBTF && !forced {
                return ChosenBTF(source: .kernel, reason: "\(options.kernelBTFPath) exists, so the tree is not needed", customPath: nil)
            }
            return try fromTree(btfhubTree, options: options, reason: noKernelBTF)
        }
        var runtimeOptions = options
        runtimeOptions.pack = pack
        let core: RuntimeBTF
        do { core = try RuntimeBTF.ensure(runtimeOptions) } catch { throw BPFLoaderError(error) }
        switch core.choice {
        case .kernel:
            return ChosenBTF(source: .kernel, reason: "\(options.kernelBTFPath) exists", customPath: nil, runtimeBTF: core)
        case .override(let path):
            return ChosenBTF(source: .file(path), reason: "named by \(RuntimeBTFOptions.btfOverrideVariable)", customPath: path, runtimeBTF: core)
        case .packed(let identity, let packName):
            return ChosenBTF(source: .packEntry(identity, pack: packName),
                             reason: "\(noKernelBTF); \(core.selection.step.rawValue): \(core.selection.reason)",
                             customPath: core.customPath, runtimeBTF: core)
        }
    }

    /// BTFRuntime's check of a BTF file before libbpf opens it (a regular file, parseable, no
    /// pointer-free reference cycle), as a loader error about `input` (or naming `what`).
    private static func checkBeforeLibbpf(file: String, what: String? = nil, input: RunInput?) throws(BPFLoaderError) {
        do { try ChosenBTFCheck.checkFile(file, what: what) } catch {
            throw BPFLoaderError(error.description, errnoCode: error.errnoCode, input: input)
        }
    }

    /// The tree's entry for this machine, by the same selection chain as a pack's (exact, unique
    /// release, release pattern, nearest only when allowed). Every kernel counts as distinct
    /// content: telling identical files apart would mean reading the whole tree.
    private static func fromTree(_ root: String, options: RuntimeBTFOptions, reason: String) throws(BPFLoaderError) -> ChosenBTF {
        var trail: [String] = []
        let machine: MachineIdentity
        do { machine = try options.machineIdentity(trail: &trail) } catch {
            throw BPFLoaderError(error.message, errnoCode: error.errnoCode, input: RunInput(.btfhubTree, root))
        }
        let tree: BTFHubTree
        do { tree = try BTFHubTree(scanning: root) } catch { throw BPFLoaderError("\(error)", errnoCode: EIO, input: RunInput(.btfhubTree, root)) }
        var entries: [KernelIdentity: Int] = [:]
        for (index, kernel) in tree.kernels.enumerated() where entries[kernel.identity] == nil { entries[kernel.identity] = index }
        trail.append("btfhub tree: \(root) (\(tree.kernels.count) kernels)")
        let selection: BTFSelection
        do {
            selection = try BTFSelector.select(for: machine, among: entries, source: "btfhub tree \(root)", container: "the tree",
                                               allowNearest: options.allowsNearest)
        } catch {
            throw BPFLoaderError("no BTF for this kernel: \(error.message)", errnoCode: error.errnoCode, input: RunInput(.btfhubTree, root))
        }
        guard let identity = selection.entry, let index = entries[identity] else {
            throw BPFLoaderError("the selection chose no entry (\(selection.reason))", errnoCode: ENOENT, input: RunInput(.btfhubTree, root))
        }
        let entry = tree.kernels[index]
        trail += selection.explanation
        let why = "\(reason); \(selection.step.rawValue): \(selection.reason)"
        if entry.format == .rawBTF {
            try checkBeforeLibbpf(file: entry.inputPath, input: RunInput(.btfhubTree, root))
            return ChosenBTF(source: .treeEntry(identity, path: entry.inputPath), reason: why, customPath: entry.inputPath, treeTrail: trail)
        }
        // A compressed entry: libbpf needs a file, so the BTF is exposed the way the runtime exposes
        // a pack entry (a sealed memfd, else a private temporary file).
        let bytes: [UInt8]
        do { bytes = try entry.readBTFBytes() } catch { throw BPFLoaderError("\(error)", errnoCode: EIO) }
        do { try ChosenBTFCheck.check(bytes, source: entry.inputPath) } catch { throw BPFLoaderError(error.message, errnoCode: error.errnoCode) }
        let exposed: ExposedBTFFile
        do { exposed = try ExposedBTFFile.expose(bytes, forceTemporaryFile: options.forceTemporaryFile) } catch {
            throw BPFLoaderError(error.message, errnoCode: error.errnoCode)
        }
        return ChosenBTF(source: .treeEntry(identity, path: entry.inputPath), reason: why, customPath: exposed.path, exposedFile: exposed, treeTrail: trail)
    }
}

extension ChosenBTF {
    /// The dry run (`btf-run --which`): the lines saying which BTF a run would use and why,
    /// and whether one was found. Nothing is exposed or loaded. A failure's line is `describe`'s,
    /// the choice's reason `reason`'s (a front end names its options and commands there).
    public static func explain(btfFile: String?, btfhubTree: String?, pack: PackSource = .embedded,
                               options: RuntimeBTFOptions = RuntimeBTFOptions(),
                               describe: (BPFLoaderError) -> String = \.description,
                               reason: (ChosenBTF) -> String = \.reason) -> (lines: [String], found: Bool) {
        if btfFile == nil && btfhubTree == nil {
            var runtimeOptions = options
            runtimeOptions.pack = pack
            switch Result(catching: { () throws(BTFRuntimeError) -> BTFSelection in try RuntimeBTF.which(runtimeOptions) }) {
            case .success(let selection): return (selection.explanation, true)
            // The trail of a failure ends with "no choice: <message>".
            case .failure(let error):
                let line = describe(BPFLoaderError(error))
                return (error.explanation.isEmpty ? [line] : error.explanation.dropLast() + ["no choice: " + line], false)
            }
        }
        switch Result(catching: { () throws(BPFLoaderError) -> ChosenBTF in try choose(btfFile: btfFile, btfhubTree: btfhubTree, pack: pack, options: options) }) {
        case .success(let chosen):
            let lines = chosen.trail.filter { !$0.hasPrefix("chosen:") } + [chosen.summary(reason: reason(chosen))]
            chosen.release()
            return (lines, true)
        case .failure(let error):
            return ([describe(error)], false)
        }
    }
}
