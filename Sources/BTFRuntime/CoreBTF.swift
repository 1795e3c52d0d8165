import Archive
import CLibBPF
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where the runtime finds the pack of trimmed kernel BTF.
public enum PackSource: Sendable {
    /// The `.btfkit.pack` section of the running executable, read through `/proc/self/exe`.
    /// It is there after `btf-pack embed`, or after linking the output of `btf-pack emit-asm`.
    case embedded
    /// A named section of some ELF file.
    case elfSection(file: String, section: String)
    /// A pack file (`.tar.xz`, or bpf-compatible's `.tar.gz`).
    case file(String)
    /// A pack already in memory; `description` names it in messages.
    case bytes([UInt8], description: String)
}

/// How `CoreBTF.ensure` decides; the defaults are those of a real run.
public struct CoreBTFOptions: Sendable {
    /// Where the pack is; by default the running executable's own `.btfkit.pack` section.
    public var pack: PackSource = .embedded
    /// The kernel's own BTF; when this file exists nothing else is done.
    public var kernelBTFPath = "/sys/kernel/btf/vmlinux"
    /// The os-release files to read `ID` and `VERSION_ID` from, first readable one wins.
    public var osReleasePaths = RunningKernel.osReleasePaths
    /// The kernel to look for instead of the running one (tests, tools).
    public var identity: KernelIdentity?
    /// Overrides the process environment for `BTFKIT_BTF` and `BTFKIT_FORCE_EMBEDDED` (tests).
    public var environment: [String: String]?
    /// Use a temporary file even where memfd works (tests of the fallback).
    public var forceTemporaryFile = false

    /// The defaults of a real run.
    public init() {}

    /// `BTFKIT_BTF`: the path of a BTF file to use instead of anything else.
    public static let btfOverrideVariable = "BTFKIT_BTF"
    /// `BTFKIT_FORCE_EMBEDDED=1`: use the pack even when the kernel has its own BTF.
    public static let forceEmbeddedVariable = "BTFKIT_FORCE_EMBEDDED"

    func environmentValue(_ name: String) -> String? {
        if let environment { return environment[name] }
        return getenv(name).map { String(cString: $0) }
    }
}

/// The BTF libbpf should relocate against, chosen for the running kernel, and kept available
/// until `release()` (or until the value is gone).
///
/// The policy: `BTFKIT_BTF=/path` wins; otherwise a kernel with `/sys/kernel/btf/vmlinux` needs
/// nothing (unless `BTFKIT_FORCE_EMBEDDED=1`); otherwise the pack's entry for exactly this
/// kernel (os-release `ID`, `VERSION_ID`, `uname -m`, `uname -r`) is written to a memfd and
/// offered as `/proc/self/fd/N`. A kernel the pack lacks is an error naming the nearest entries.
public final class CoreBTF: Sendable {
    /// What was chosen.
    public enum Choice: Sendable, Equatable {
        /// The kernel has its own BTF: libbpf finds it; `customPath` is `nil`.
        case kernel
        /// `BTFKIT_BTF` named this file.
        case override(path: String)
        /// The pack's entry for this kernel.
        case packed(KernelIdentity, pack: String)
    }

    /// What was chosen, and from where.
    public let choice: Choice
    /// The value for `bpf_object_open_opts.btf_custom_path`, or `nil` when libbpf needs none.
    public let customPath: String?
    private let exposedFile: ExposedBTFFile?
    private let isReleased = Mutex(false)
    /// `customPath` as a C string that lives as long as this object (libbpf keeps the pointer).
    /// Written once in `init`, freed in `deinit`, never mutated in between.
    nonisolated(unsafe) private let customPathCString: UnsafeMutablePointer<CChar>?

    private init(choice: Choice, customPath: String?, exposedFile: ExposedBTFFile?) {
        self.choice = choice
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

    /// Chooses the BTF for the running kernel (see the type's description).
    public static func ensure(_ options: CoreBTFOptions = CoreBTFOptions()) throws(BTFRuntimeError) -> CoreBTF {
        if let path = options.environmentValue(CoreBTFOptions.btfOverrideVariable), !path.isEmpty {
            guard access(path, R_OK) == 0 else {
                throw BTFRuntimeError(.badOverride, "\(CoreBTFOptions.btfOverrideVariable)=\(path): cannot read it: \(String(cString: strerror(errno)))", errnoCode: errno)
            }
            return CoreBTF(choice: .override(path: path), customPath: path, exposedFile: nil)
        }
        let forced = options.environmentValue(CoreBTFOptions.forceEmbeddedVariable).map { !$0.isEmpty && $0 != "0" } ?? false
        // The test libbpf itself makes before loading the kernel's BTF (and bcc's vmlinux_btf_exists).
        if !forced && access(options.kernelBTFPath, R_OK) == 0 {
            return CoreBTF(choice: .kernel, customPath: nil, exposedFile: nil)
        }
        let identity: KernelIdentity
        if let given = options.identity { identity = given } else { identity = try RunningKernel.identity(osReleasePaths: options.osReleasePaths) }
        let (packBytes, packName) = try readPack(options.pack)
        let btf: [UInt8]
        do {
            btf = try BTFPack.btf(for: identity, inPack: packBytes, source: packName)
        } catch {
            throw runtimeError(error)
        }
        let file = try ExposedBTFFile.expose(btf, forceTemporaryFile: options.forceTemporaryFile)
        return CoreBTF(choice: .packed(identity, pack: packName), customPath: file.path, exposedFile: file)
    }

    /// Sets `opts.btf_custom_path` to `customPath` (or to `NULL` when the kernel's own BTF is
    /// used). The string stays valid as long as this object does.
    public func apply(to opts: UnsafeMutablePointer<bpf_object_open_opts>) {
        opts.pointee.btf_custom_path = UnsafePointer(customPathCString)
    }

    /// The pack's bytes and a name for it.
    static func readPack(_ source: PackSource) throws(BTFRuntimeError) -> ([UInt8], String) {
        do throws(PackError) {
            switch source {
            case .embedded:
                let executable = "/proc/self/exe"
                let realExecutable = ELFSectionEmbedder.realPath(executable) ?? executable
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
            return BTFRuntimeError(.noPack, "\(error.description): no pack is embedded; add one with "
                                   + "`btf-pack embed PACK --into BINARY -o OUT` or link the output of `btf-pack emit-asm`", errnoCode: EOPNOTSUPP)
        case .unreadable:
            return BTFRuntimeError(.badPack, error.description, errnoCode: EIO)
        default:
            return BTFRuntimeError(.badPack, error.description, errnoCode: EINVAL)
        }
    }
}
