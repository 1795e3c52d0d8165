import ArgumentParser
import Archive
import BPFLoader
import BTF
import CommandSupport
import Trim
import Glibc

extension BTFPackCommand {
    /// `btf-pack runner`: one executable that runs a BPF object on kernels without BTF.
    struct Runner: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a runner: btf-run with a BPF object and its trimmed, packed kernel BTF embedded.",
            discussion: """
            The runner carries the object without its DWARF (section .btfkit.object; a default --event-type \
            that only DWARF describes is added to its BTF first) and the pack (section .btfkit.pack); \
            run with no arguments it loads the object with this kernel's BTF and prints its events; \
            btf-run's flags still work (--event-type NAME, --json, --duration, -v). Arguments after \
            `--` become the runner's own defaults (section .btfkit.args), used before the command \
            line's; btf-pack checks them with the runner before writing it:
              btf-pack runner --object execsnoop.bpf.o --btfhub trimmed/ -o execsnoop -- --event-type execsnoop_event
            DIR is a btfhub tree: full kernels (.btf.tar.xz or .btf) are trimmed for the object on the \
            way; a tree that is already trimmed (only raw .btf files, each under 1 MiB, which no whole \
            kernel BTF is) is packed as it is.
            The runner is btf-run from beside this btf-pack, or --runner. The package links btf-run \
            fully static (Package.swift), so that the runner needs nothing on the target machine; a \
            dynamically linked btf-run is refused unless --allow-dynamic. To make a static one by hand:
              \(Runner.staticBuildCommand)
            The pack records what its kernels were trimmed for (btf-trim's record, or this trimming); \
            a pack trimmed for other CO-RE relocations than OBJ's is refused (BTFKIT_ALLOW_STALE=1 warns).
            """)

        /// The command that builds a fully static btf-run.
        static let staticBuildCommand = "swift build -c release --product btf-run -Xswiftc -static-executable -Xlinker -s"

        @Option(help: ArgumentHelp("The BPF object to embed (clang -target bpf -g).", valueName: "OBJ"))
        var object: String

        @Option(help: ArgumentHelp("The btfhub tree: full kernels, or already trimmed ones.", valueName: "DIR"))
        var btfhub: String

        @Option(name: .shortAndLong, help: ArgumentHelp("The runner to write (mode 0755).", valueName: "TOOL"))
        var output: String

        @Option(help: ArgumentHelp("The btf-run executable to embed into (default: btf-run beside btf-pack).", valueName: "PATH"))
        var runner: String?

        @Flag(name: .customLong("allow-dynamic"), help: "Accept a dynamically linked btf-run (the runner then needs its shared libraries, Swift's among them, on the target machine).")
        var allowDynamic = false

        @Option(help: ArgumentHelp("Kernels trimmed in parallel when DIR holds full kernels (default: the number of cores).", valueName: "N"))
        var jobs = SweepOptions.defaultJobs

        @Argument(parsing: .postTerminator, help: ArgumentHelp("btf-run arguments the runner uses by default (after --).", valueName: "RUNNER-ARGS"))
        var runnerArguments: [String] = []

        func validate() throws {
            guard jobs >= 1, jobs <= SweepOptions.maxJobs else { throw ValidationError("--jobs must be at least 1 and at most \(SweepOptions.maxJobs)") }
            if let bad = runnerArguments.first(where: { $0.utf8.contains(0) }) {
                throw ValidationError("runner argument '\(bad)' contains a NUL byte")
            }
        }

        func run() async throws {
            do {
                let runnerPath = try locateRunner()
                checkOutputs([output], against: [object, runnerPath, btfhub])
                let interpreter = RunnerAssembly.interpreter(of: runnerPath)
                if let interpreter, !allowDynamic {
                    fail(ValidationError("\(runnerPath): btf-run is dynamically linked (\(interpreter)): a runner made from it needs the "
                                         + "Swift runtime and its shared libraries at the same paths on the target machine. Build a static "
                                         + "one with `\(Runner.staticBuildCommand)` and give it with --runner, or pass --allow-dynamic"))
                }
                let objectBytes: [UInt8]
                do { objectBytes = try FileIO.read(object) } catch { fail(error) }
                let bpfObject: BPFObject
                do { bpfObject = try BPFObject(parsing: objectBytes, path: object) } catch { fail(error) }
                // A runner built from it would crash or hang in libbpf at every start.
                do { try bpfObject.checkForLibbpf() } catch {
                    fail(PackError(.unreadable, "\(error.problem); no runner is built", file: object))
                }

                let tree: BTFHubTree
                do { tree = try BTFHubTree(scanning: btfhub) } catch { fail(error) }
                guard !tree.kernels.isEmpty || !tree.unusable.isEmpty else {
                    fail(ValidationError("\(btfhub): no kernels found: expected <distro>/<version>/<arch>/<release>.btf.tar.xz or .btf files"))
                }
                let packed = try await pack(tree, object: bpfObject)
                if let metadata = packed.metadata {
                    checkFreshness(metadata: metadata, pack: btfhub, object: object)
                } else {
                    print("note: \(btfhub) does not record what it was trimmed for (\(PackMetadata.memberName), written by btf-trim); "
                          + "the pack cannot be checked against the object")
                }

                let runner: RunnerAssembly
                do {
                    runner = try RunnerAssembly(runnerPath: runnerPath, object: objectBytes, objectName: object, pack: packed.bytes,
                                                arguments: runnerArguments)
                } catch { fail(error) }
                switch try runner.checkArguments(copyName: output.split(separator: "/").last.map(String.init) ?? "runner") {
                case .accepted:
                    break
                case .notRunnable(let reason):
                    print("note: the runner cannot run on this machine (\(reason)); its default arguments were not checked")
                case .rejected(let reason):
                    // A usage error (exit 2), like any other bad argument of this command; nothing is written.
                    var standardError = StandardError()
                    print("btf-pack: \(output) not written: the runner rejects the arguments after --: \(reason)", to: &standardError)
                    throw ExitCode(2)
                }
                do { try FileIO.writeAtomically(runner.bytes, to: output, mode: 0o755) } catch { fail(error) }

                let s = packed.summary
                print("runner: \(output) (\(runner.bytes.count) bytes) = \(runnerPath) (\(runner.executableSize) bytes)")
                print("  + object \(object) without DWARF (\(runner.object.count) of \(objectBytes.count) bytes, section \(EmbeddedObject.sectionName))"
                      + (runner.addedTypes.isEmpty ? "" : "; added to its BTF from DWARF: \(runner.addedTypes.joined(separator: ", "))"))
                if !runnerArguments.isEmpty {
                    print("  + default arguments: \(runnerArguments.joined(separator: " ")) (section \(EmbeddedArguments.sectionName))")
                }
                print("  + pack: \(s.entries) kernels, \(s.uniqueContents) distinct BTF files, \(s.rawBytes) bytes raw, \(s.packedBytes) bytes packed (section \(ELFSectionEmbedder.packSectionName))")
                if let interpreter {
                    print("note: \(runnerPath) is dynamically linked (\(interpreter)); a target machine needs its libraries "
                          + "(--allow-dynamic). `\(Runner.staticBuildCommand)` makes a runner that needs nothing.")
                }
            } catch let exit as ExitCode {
                throw exit
            } catch {
                fail(error)
            }
        }

        /// `--runner`, else `btf-run` in the directory of this executable.
        private func locateRunner() throws(PackError) -> String {
            if let runner { return runner }
            let beside = RunnerAssembly.runnerBeside()
            guard beside.isExecutable else {
                throw PackError(.unreadable, "no btf-run beside btf-pack; build it (swift build --product btf-run) or give --runner PATH", file: beside.path)
            }
            return beside.path
        }

        /// The pack of every kernel of the tree, trimmed for `object` unless the tree is already
        /// trimmed, with the record of what they were trimmed for (`nil` for an already trimmed tree
        /// without one). The kernels are read one at a time while packing; only the pack is held.
        private func pack(_ tree: BTFHubTree, object: BPFObject) async throws(PackError) -> PackedArchive {
            if RunnerAssembly.isAlreadyTrimmed(tree) {
                print("\(btfhub): \(tree.kernels.count) kernels, already trimmed (raw .btf files under 1 MiB); packing them as they are")
                let sources = try PackWriter.sources(of: tree)
                return try PackWriter.pack(sources, metadata: try PackMetadata.read(treeAt: btfhub))
            }
            print("\(btfhub): \(tree.kernels.count) kernels; trimming each for \(object.path) (\(jobs) in parallel)")
            return try await trimmedPack(object: object)
        }

        /// The tree trimmed by btf-trim's sweep (parallel, a progress line on a terminal) into a
        /// private scratch directory, packed from there, and removed. Any kernel that fails fails
        /// the runner: it would otherwise be missing from the pack without anyone noticing.
        private func trimmedPack(object: BPFObject) async throws(PackError) -> PackedArchive {
            let scratchDirectory = try ScratchDirectory("btf-pack-trim", purpose: "for the trimmed kernels")
            defer { scratchDirectory.remove() }
            let scratch = scratchDirectory.path
            let sweep = Sweep(objects: [object], options: SweepOptions(jobs: jobs))
            var console = SweepConsole()
            let report: SweepReport
            do { report = try await sweep.run(input: btfhub, output: scratch) { console.show($0) } } catch {
                throw PackError(.unreadable, "\(error)", file: btfhub)
            }
            console.print(report.summary)
            let failures = report.failures
            guard failures.isEmpty else {
                let list = failures.map { "\($0.inputPath): \($0.failure ?? "")" }.joined(separator: "; ")
                throw PackError(.unreadable, "\(failures.count) of \(report.kernels.count) kernels could not be trimmed: \(list)", file: btfhub)
            }
            let sources = report.kernels.compactMap { kernel in kernel.identity.map { PackKernelSource(identity: $0, file: kernel.outputPath) } }
            return try PackWriter.pack(sources, metadata: try PackMetadata.read(treeAt: scratch))
        }
    }
}
