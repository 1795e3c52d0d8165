import Archive
import BTF
import Glibc

/// A runner (`btf-pack runner`): btf-run's executable with three ELF sections appended
/// (`ELFSectionEmbedder`): the pack (`.btfkit.pack`), the BPF object without its DWARF
/// (`.btfkit.object`) and the default arguments (`.btfkit.args`, when there are any). btf-run
/// finds them through `/proc/self/exe` (`EmbeddedObject`, `EmbeddedArguments`, BTFRuntime).
public struct RunnerAssembly: Sendable {
    /// The runner's bytes: the executable, then the sections.
    public let bytes: [UInt8]
    /// The size of the btf-run executable the sections were added to.
    public let executableSize: Int
    /// The object as embedded: without DWARF (libbpf never reads it).
    public let object: [UInt8]
    /// The event types the default arguments name that were added to the object's BTF from its DWARF.
    public let addedTypes: [String]
    /// The default arguments, used before the command line's.
    public let arguments: [String]

    /// The largest raw `.btf` a tree may hold and still count as already trimmed.
    public static let trimmedSizeLimit = 1 << 20

    /// Assembles a runner from the btf-run executable at `runnerPath`, the object's bytes
    /// (`objectName` names it in errors), a pack (`PackWriter`) and default arguments. An
    /// `--event-type` among the arguments that only the object's DWARF describes is added to its BTF.
    public init(runnerPath: String, object objectBytes: [UInt8], objectName: String, pack: [UInt8], arguments: [String]) throws(BPFLoaderError) {
        let embedded: (bytes: [UInt8], addedTypes: [String])
        do {
            let elf = try ELFFile(parsing: objectBytes, file: objectName)
            embedded = try ObjectWithoutDWARF.make(elf, keeping: RunnerAssembly.eventTypes(in: arguments), objectName: objectName)
        } catch let error as BPFLoaderError {
            throw error
        } catch {
            throw BPFLoaderError("\(error)", errnoCode: EINVAL)
        }
        let runner: [UInt8]
        do { runner = try FileIO.read(runnerPath) } catch { throw BPFLoaderError("\(error)", errnoCode: EIO) }
        executableSize = runner.count
        do {
            var bytes = try ELFSectionEmbedder.appendingSection(named: ELFSectionEmbedder.packSectionName, data: pack, to: runner, file: runnerPath)
            bytes = try ELFSectionEmbedder.appendingSection(named: EmbeddedObject.sectionName, data: embedded.bytes, to: bytes, file: runnerPath)
            if !arguments.isEmpty {
                bytes = try ELFSectionEmbedder.appendingSection(named: EmbeddedArguments.sectionName, data: EmbeddedArguments.encode(arguments),
                                                                to: bytes, file: runnerPath)
            }
            self.bytes = bytes
        } catch {
            throw BPFLoaderError("\(error)", errnoCode: EINVAL)
        }
        object = embedded.bytes
        addedTypes = embedded.addedTypes
        self.arguments = arguments
    }

    /// The `--event-type` values among a runner's default arguments.
    public static func eventTypes(in arguments: [String]) -> [String] {
        var names: [String] = []
        for (i, argument) in arguments.enumerated() {
            if argument == "--event-type", i + 1 < arguments.count { names.append(arguments[i + 1]) }
            if argument.hasPrefix("--event-type=") { names.append(String(argument.dropFirst("--event-type=".count))) }
        }
        return names
    }

    /// What the runner says of its default arguments.
    public enum ArgumentCheck: Sendable, Equatable {
        /// It accepts them (or there are none).
        case accepted
        /// It rejects them: the first line it printed, without its `btf-run: ` prefix.
        case rejected(String)
        /// It cannot run on this machine (another architecture, say): not checked; why.
        case notRunnable(String)
    }

    /// Runs the runner with `--check-arguments` (it parses its embedded arguments and checks
    /// `--event-type`, `--attach` and `--set` against its object, loading nothing), from a copy
    /// named `name` in a private scratch directory (in `scratchParent`), which is removed before
    /// this returns, whatever the outcome.
    public func checkArguments(copyName name: String, scratchParent: String = ScratchDirectory.parent) throws(BPFLoaderError) -> ArgumentCheck {
        guard !arguments.isEmpty else { return .accepted }
        let directory: ScratchDirectory
        do { directory = try ScratchDirectory("btf-pack-runner", purpose: "to check the runner's arguments", in: scratchParent) } catch {
            throw BPFLoaderError("\(error)", errnoCode: EIO)
        }
        defer { directory.remove() }
        let copy = directory.path + "/" + name
        do { try FileIO.writeAtomically(bytes, to: copy, mode: 0o700) } catch {
            throw BPFLoaderError("\(PackError(.unreadable, "cannot write a copy to check the runner's arguments: \(error)", file: copy))", errnoCode: EIO)
        }
        let result: Subprocess.Result
        do { result = try Subprocess.run(copy, ["--check-arguments"]) } catch {
            return .notRunnable(error.description)
        }
        guard result.status == 0 else {
            var reason = result.output.split(separator: "\n").first.map(String.init) ?? "exit status \(result.status)"
            if reason.hasPrefix("btf-run: ") { reason.removeFirst("btf-run: ".count) }
            return .rejected(reason)
        }
        return .accepted
    }

    /// The program interpreter (`.interp`, the dynamic loader) of the ELF file at `path`, or
    /// `nil` for a static executable.
    public static func interpreter(of path: String) -> String? {
        guard let bytes = try? ELFSectionReader.contents(ofSection: ".interp", inFile: path, maxSize: 4096) else { return nil }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// `btf-run` in the directory of `executable` (by default the running one, as `btf-pack`
    /// finds the btf-run built beside it), and whether it is there and executable.
    public static func runnerBeside(executable: String = "/proc/self/exe") -> (path: String, isExecutable: Bool) {
        let own = FileIO.realPath(executable) ?? executable
        let directory = own.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let candidate = directory + "/btf-run"
        return (candidate, access(candidate, X_OK) == 0)
    }

    /// Whether every kernel of `tree` is a raw `.btf` file under `trimmedSizeLimit`, which no
    /// whole kernel's BTF is: a tree already trimmed, to be packed as it is.
    public static func isAlreadyTrimmed(_ tree: BTFHubTree) -> Bool {
        tree.kernels.allSatisfy { entry in
            var status = stat()
            return entry.format == .rawBTF && stat(entry.inputPath, &status) == 0 && Int(status.st_size) < trimmedSizeLimit
        }
    }
}
