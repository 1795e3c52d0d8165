import Archive
import BTF
import Synchronization
import Glibc

/// The BTF libbpf should relocate against, chosen for the running kernel, and kept available
/// until `release()` (or until the value is gone).
///
/// The policy (docs/selection.md): `BTFKIT_BTF=/path` wins; then `BTFKIT_ENTRY` naming a pack
/// entry; otherwise a kernel with `/sys/kernel/btf/vmlinux` needs nothing (unless
/// `BTFKIT_FORCE_EMBEDDED=1`); otherwise the pack entry the selection chain picks (exact
/// os-release/uname identity, else a unique release, else the release's pattern with os-release,
/// else, only if allowed, the nearest release) is written to a memfd and offered as
/// `/proc/self/fd/N`. `selection` says which step decided and why.
public final class RuntimeBTF: Sendable {
    /// What was chosen.
    public enum Choice: Sendable, Equatable {
        /// The kernel has its own BTF: libbpf finds it; `customPath` is `nil`.
        case kernel
        /// `BTFKIT_BTF` named this file.
        case override(path: String)
        /// This entry of the pack (see `selection` for the step that chose it).
        case packed(KernelIdentity, pack: String)
    }

    /// What was chosen, and from where.
    public let choice: Choice
    /// How it was chosen: the step, the reason, warnings, and the whole trail for `-v`.
    public let selection: BTFSelection
    /// The value for `bpf_object_open_opts.btf_custom_path`, or `nil` when libbpf needs none.
    public let customPath: String?
    private let exposedFile: ExposedBTFFile?
    private let isReleased = Mutex(false)
    /// `customPath` as a C string that lives as long as this object (libbpf keeps the pointer;
    /// BPFLoader's `apply(to:)` hands it over). Written once in `init`, freed in `deinit`, never
    /// mutated in between.
    nonisolated(unsafe) package let customPathCString: UnsafeMutablePointer<CChar>?

    private init(choice: Choice, selection: BTFSelection, customPath: String?, exposedFile: ExposedBTFFile?) {
        self.choice = choice
        self.selection = selection
        self.customPath = customPath
        self.exposedFile = exposedFile
        customPathCString = customPath.flatMap { strdup($0) }
    }

    deinit {
        release()
        free(customPathCString)
    }

    /// Closes the memfd (or removes the temporary file). Safe to call more than once; after it,
    /// `customPath` no longer names the BTF.
    public func release() {
        let first = isReleased.withLock { released in
            defer { released = true }
            return !released
        }
        if first { exposedFile?.release() }
    }

    /// Chooses the BTF for the running kernel (see the type's description) and exposes it.
    public static func ensure(_ options: RuntimeBTFOptions = RuntimeBTFOptions()) throws(BTFRuntimeError) -> RuntimeBTF {
        let (selection, btf) = try decide(options)
        switch selection.step {
        case .override:
            let path = selection.path ?? ""
            // Not a FIFO or device, and no reference cycle libbpf would loop on (`which`, a dry run, only chooses).
            try ChosenBTFCheck.checkFile(path, what: "\(RuntimeBTFOptions.btfOverrideVariable)=\(path)")
            return RuntimeBTF(choice: .override(path: path), selection: selection, customPath: path, exposedFile: nil)
        case .kernelBTF:
            return RuntimeBTF(choice: .kernel, selection: selection, customPath: nil, exposedFile: nil)
        case .namedEntry, .exact, .uniqueRelease, .releasePattern, .nearestRelease:
            guard let entry = selection.entry, let btf else {
                throw BTFRuntimeError(.badPack, "internal error: step \(selection.step.rawValue) chose no entry", errnoCode: EINVAL)
            }
            try ChosenBTFCheck.check(btf, source: "entry \(entry.btfRelativePath) of \(selection.pack ?? "the pack")")
            let file = try ExposedBTFFile.expose(btf, forceTemporaryFile: options.forceTemporaryFile)
            return RuntimeBTF(choice: .packed(entry, pack: selection.pack ?? ""), selection: selection, customPath: file.path, exposedFile: file)
        }
    }

    /// The dry run: which BTF `ensure` would choose with these options and why, without exposing
    /// anything. Failures are thrown as by `ensure`; their `explanation` holds the trail.
    public static func which(_ options: RuntimeBTFOptions = RuntimeBTFOptions()) throws(BTFRuntimeError) -> BTFSelection {
        try decide(options).selection
    }

    /// The selection chain with its inputs gathered (environment, kernel BTF, os-release, uname,
    /// pack), and the chosen entry's BTF.
    static func decide(_ options: RuntimeBTFOptions) throws(BTFRuntimeError) -> (selection: BTFSelection, btf: [UInt8]?) {
        guard let object = options.object, options.nonEmptyEnvironmentValue(RuntimeBTFOptions.btfOverrideVariable) == nil else {
            return try decide(options, trail: [], pack: nil)
        }
        // The stale-pack check comes first, whatever the kernel: a pack made for another build of
        // the object is a mistake to report on the developer's machine too, not only where it is used.
        var trail: [String] = []
        let pack: (bytes: [UInt8], name: String)
        do { pack = try readPack(options.pack) } catch {
            guard error.kind == .noPack else {
                var failure = error
                failure.explanation = ["no choice: \(error.message)"]
                throw failure
            }
            return try decide(options, trail: ["pack record: no pack, nothing to compare \(object.name) with"], pack: nil)
        }
        let freshness: PackFreshness
        do { freshness = try PackFreshness.check(packBytes: pack.bytes, pack: pack.name, object: object) } catch {
            var failure = error
            failure.explanation = ["no choice: \(error.message)"]
            throw failure
        }
        trail.append(freshness.line)
        var warning: String?
        if var error = freshness.error {
            guard options.environmentFlag(PackFreshness.allowStaleVariable) else {
                error.explanation = trail + ["no choice: \(error.message)"]
                throw error
            }
            warning = (freshness.staleMessage ?? "") + "; used anyway (\(PackFreshness.allowStaleVariable)=1): "
                + "relocations it lacks may fail or be poisoned on some kernels"
            trail.append("pack record: stale, used anyway (\(PackFreshness.allowStaleVariable)=1)")
        }
        var result = try decide(options, trail: trail, pack: pack)
        if let warning { result.selection.warnings.append(warning) }
        return result
    }

    /// The selection chain after the stale-pack check, with the pack already read when it was.
    private static func decide(_ options: RuntimeBTFOptions, trail initialTrail: [String],
                               pack prefetched: (bytes: [UInt8], name: String)?) throws(BTFRuntimeError) -> (selection: BTFSelection, btf: [UInt8]?) {
        var trail = initialTrail
        func failing(_ error: BTFRuntimeError) -> BTFRuntimeError {
            var error = error
            error.explanation = trail + (error.explanation.isEmpty ? ["no choice: \(error.message)"] : error.explanation)
            return error
        }
        if let path = options.nonEmptyEnvironmentValue(RuntimeBTFOptions.btfOverrideVariable) {
            guard access(path, R_OK) == 0 else {
                throw failing(BTFRuntimeError(.badOverride, "\(RuntimeBTFOptions.btfOverrideVariable)=\(escapedForTerminal(path)): cannot read it: \(errnoText())", errnoCode: errno))
            }
            trail.append("override: \(RuntimeBTFOptions.btfOverrideVariable)=\(path)")
            return (BTFSelection(step: .override, path: path, reason: "\(RuntimeBTFOptions.btfOverrideVariable) names it", trail: trail), nil)
        }
        var named = options.entry
        if named == nil, let text = options.nonEmptyEnvironmentValue(BTFSelector.entryVariable) {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 4, !parts.contains(where: \.isEmpty) else {
                throw failing(BTFRuntimeError(.badOverride, "\(BTFSelector.entryVariable)=\(text): not DISTRO/VERSION/ARCH/RELEASE", errnoCode: EINVAL))
            }
            named = KernelIdentity(distro: parts[0], version: parts[1], arch: KernelIdentity.btfhubArch(forMachine: parts[2]), release: parts[3])
        }
        if named == nil {
            let forced = options.environmentFlag(RuntimeBTFOptions.forceEmbeddedVariable) || !options.useKernelBTF
            // The test libbpf itself makes before loading the kernel's BTF (and bcc's vmlinux_btf_exists).
            if !forced && access(options.kernelBTFPath, R_OK) == 0 {
                trail.append("kernel BTF: \(options.kernelBTFPath) is readable; libbpf uses it")
                return (BTFSelection(step: .kernelBTF, path: options.kernelBTFPath, reason: "the kernel has its own BTF", trail: trail), nil)
            }
            if !options.useKernelBTF {
                trail.append(access(options.kernelBTFPath, R_OK) == 0
                    ? "kernel BTF: \(options.kernelBTFPath) is readable and a real run would use it; the pack's choice follows"
                    : "kernel BTF: \(options.kernelBTFPath): \(errnoText()); a real run uses the pack")
            } else {
                trail.append(forced ? "kernel BTF: not used (\(RuntimeBTFOptions.forceEmbeddedVariable)=1)"
                                    : "kernel BTF: \(options.kernelBTFPath): \(errnoText())")
            }
        }

        let machine: MachineIdentity
        do { machine = try options.machineIdentity(trail: &trail) } catch { throw failing(error) }

        let packBytes: [UInt8], packName: String
        if let prefetched {
            (packBytes, packName) = prefetched
        } else {
            do { (packBytes, packName) = try readPack(options.pack) } catch { throw failing(error) }
        }
        trail.append("pack: \(packName) (\(packBytes.count) bytes)")

        let allowNearest = options.allowsNearest
        if named == nil, let exact = machine.exactIdentity {
            // The common case reads the pack only up to this kernel's member.
            do throws(PackError) {
                let btf = try BTFPack.btf(for: exact, inPack: packBytes, source: packName)
                trail.append("1 exact: \(exact): in the pack")
                var selection = BTFSelection(step: .exact, entry: exact, pack: packName,
                                             reason: "os-release and uname name this entry exactly", trail: trail)
                selection.btfSize = btf.count
                return (selection, btf)
            } catch where error.kind == .noEntry {
                // Not there: the chain below needs every entry.
            } catch {
                throw failing(runtimeError(error))
            }
        }
        let pack: BTFPack
        do { pack = try BTFPack(bytes: packBytes, source: packName) } catch { throw failing(runtimeError(error)) }
        trail.append("pack entries: \(pack.entries.count) kernels, \(pack.contents.count) distinct BTF files")
        var selection: BTFSelection
        do {
            if let named {
                selection = try BTFSelector.select(named: named, in: pack)
            } else {
                selection = try BTFSelector.select(for: machine, in: pack, allowNearest: allowNearest)
            }
        } catch {
            throw failing(error)
        }
        selection.trail = trail + selection.trail
        let btf = selection.entry.flatMap { pack.btf(for: $0) }
        selection.btfSize = btf?.count
        return (selection, btf)
    }

    /// The pack's bytes and a name for it.
    static func readPack(_ source: PackSource) throws(BTFRuntimeError) -> ([UInt8], String) {
        do throws(PackError) {
            switch source {
            case .embedded:
                let executable = "/proc/self/exe"
                let realExecutable = FileIO.realPath(executable) ?? executable
                do throws(PackError) {
                    let bytes = try ELFSectionReader.contents(ofSection: ELFSectionEmbedder.packSectionName, inFile: executable)
                    return (bytes, "section \(ELFSectionEmbedder.packSectionName) of \(realExecutable)")
                } catch {
                    var named = error
                    named.file = realExecutable  // the program's own name says more than /proc/self/exe
                    throw named
                }
            case .elfSection(let file, let section):
                return (try ELFSectionReader.contents(ofSection: section, inFile: file), "section \(section) of \(file)")
            case .file(let path):
                return (try BTFPack.readFile(path), path)
            case .bytes(let bytes, let description):
                return (bytes, description)
            }
        } catch {
            throw runtimeError(error)
        }
    }

    static func runtimeError(_ error: PackError) -> BTFRuntimeError {
        switch error.kind {
        case .noEntry:
            return BTFRuntimeError(.noMatchingKernel, error.description, errnoCode: ENOENT)
        case .noSection:
            return BTFRuntimeError(.noPack, "\(error.description): no pack is embedded", errnoCode: EOPNOTSUPP, remedy: .embedPack)
        case .unreadable:
            return BTFRuntimeError(.badPack, error.description, errnoCode: EIO)
        default:
            return BTFRuntimeError(.badPack, error.description, errnoCode: EINVAL)
        }
    }
}
