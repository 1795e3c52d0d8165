import ArgumentParser
import Archive
import BTF
import CommandSupport
import BTFRuntime
import Glibc

/// `btf-pack`: packs a trimmed btfhub tree, embeds the pack into executables, and shows which BTF
/// the runtime would choose. Parses, calls the Archive and BTFRuntime libraries, prints.
@main
struct BTFPackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "btf-pack",
        abstract: "Pack trimmed kernel BTF into one small archive and embed it into executables.",
        discussion: """
        Typical use:
          btf-trim prog.bpf.o btfhub-archive -o trimmed
          btf-pack trimmed -o btf.tar.xz
          btf-pack embed btf.tar.xz --into loader -o loader.packed
        At run time BTFRuntime (Swift) or btfkit_ensure_core_btf (C) finds the pack in the executable's \
        .btfkit.pack section and hands libbpf the running kernel's BTF.
        """,
        subcommands: [Pack.self, Embed.self, EmitAsm.self, Locate.self, Which.self, Runner.self],
        defaultSubcommand: Pack.self)

    static func main() async {
        // ^C while a pack, embedded binary or runner is written removes the temporary file.
        InterruptCleanup.install()
        var command: ParsableCommand
        do { command = try parseAsRoot() } catch {
            // --help is an "error" that exits 0; every usage error exits 2, as btf-trim's do.
            if exitCode(for: error) == .success { exit(withError: error) }
            var standardError = StandardError()
            print(fullMessage(for: error), to: &standardError)
            Glibc.exit(2)
        }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Prints `error` as `btf-pack: error` (one line, control characters escaped) and exits with status 1.
/// A runtime error's remedy is worded with the command that fixes it.
func fail(_ error: some Error) -> Never {
    var standardError = StandardError()
    var text = "\(error)"
    if let error = error as? BTFRuntimeError, let remedy = error.remedy {
        let hint = switch remedy {
        case .embedPack: PackHints.embedPack
        case .repackForObject: PackHints.repackForObject(allowStaleVariable: PackFreshness.allowStaleVariable)
        }
        text = error.message + "; " + hint
    }
    print("btf-pack: " + escapedForTerminal(text), to: &standardError)
    exit(1)
}

/// Exits with status 2 (a usage error) when an output is one of the inputs or another output, or
/// a device or FIFO; checked before anything is read.
func checkOutputs(_ outputs: [String], against inputs: [String]) {
    do {
        try FileIO.checkOutputs(outputs, against: inputs)
        for output in outputs { try FileIO.checkOutputPath(output) }
    } catch {
        var standardError = StandardError()
        print("btf-pack: " + escapedForTerminal("\(error)"), to: &standardError)
        exit(2)
    }
}


extension BTFPackCommand {
    struct Pack: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pack a trimmed btfhub tree (<distro>/<version>/<arch>/<release>.btf) into a deterministic archive.",
            discussion: """
            tar.xz (default): members keep btfhub's layout; a file identical to an earlier one is stored \
            as a hard link to it; xz -9e. tar -tJf lists it, tar -xJf extracts it.
            tar.gz: bpf-compatible's layout (./btfhub-archive/<id>/<version_id>/<machine>/<release>.btf), \
            every file whole (its runtime cannot follow hard links), gzip -9.
            The same input always gives the same bytes: members sorted, owned by root, dated 1970-01-01.
            """)

        @Argument(help: ArgumentHelp("The trimmed tree (btf-trim's output directory).", valueName: "DIR"))
        var directory: String

        @Option(name: .shortAndLong, help: ArgumentHelp("The archive to write (replaced atomically).", valueName: "PACK"))
        var output: String

        @Option(help: ArgumentHelp("tar.xz (BTFKit, hard links) or tar.gz (bpf-compatible).", valueName: "FORMAT"))
        var format: String = PackFormat.tarXZ.rawValue

        func validate() throws {
            guard PackFormat(rawValue: format) != nil else { throw ValidationError("--format must be tar.xz or tar.gz, not \(format)") }
        }

        func run() {
            checkOutputs([output], against: [directory])
            do {
                // Streamed into the output: neither the kernels nor the pack are held whole in memory.
                let s = try PackWriter.write(directory: directory, format: PackFormat(rawValue: format)!, to: output)
                print("entries: \(s.entries)")
                print("unique contents: \(s.uniqueContents)")
                print("raw bytes: \(s.rawBytes)")
                print("packed bytes: \(s.packedBytes) (\(format), \(output))")
            } catch {
                fail(error)
            }
        }
    }

    struct Embed: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a pack to an existing ELF64 executable as a non-allocated section, without relinking.",
            discussion: """
            The input is not modified; the output is written atomically with the input's permissions. \
            The program runs as before. GNU strip keeps the section; llvm-strip removes it unless given \
            --keep-section=.btfkit.pack (or strip before embedding, or link the pack in with emit-asm).
            """)

        @Argument(help: ArgumentHelp("The pack (btf-pack's output).", valueName: "PACK"))
        var pack: String

        @Option(help: ArgumentHelp("The executable to add the pack to.", valueName: "BINARY"))
        var into: String

        @Option(name: .shortAndLong, help: ArgumentHelp("The executable to write.", valueName: "OUT"))
        var output: String

        @Option(help: ArgumentHelp("The section name.", valueName: "NAME"))
        var section: String = ELFSectionEmbedder.packSectionName

        @Option(help: ArgumentHelp("The BPF object the executable loads: refuse a pack trimmed for other CO-RE relocations (BTFKIT_ALLOW_STALE=1 warns instead).", valueName: "OBJ"))
        var object: String?

        func validate() throws {
            guard !section.isEmpty else { throw ValidationError("--section must name a section (it is empty)") }
            guard !section.utf8.contains(0) else { throw ValidationError("--section must not contain a NUL byte") }
        }

        func run() {
            checkOutputs([output], against: [pack, into])
            do {
                let bytes = try BTFPack.readFile(pack)
                let contents = try BTFPack(bytes: bytes, source: pack)  // refuse a broken pack now, not at run time
                if let object { checkFreshness(metadata: contents.metadata, pack: pack, object: object) }
                try ELFSectionEmbedder.embed(bytes, sectionName: section, into: into, output: output)
                print("embedded \(pack) (\(bytes.count) bytes, \(contents.entries.count) kernels) as section \(section) of \(output)")
            } catch {
                fail(error)
            }
        }
    }

    struct EmitAsm: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "emit-asm",
            abstract: "Write an assembler source that links a pack in at build time (.incbin, btfkit_pack_start/end).",
            discussion: """
            The data goes into an allocated section .btfkit.pack, which the runtime finds in the \
            executable like an embedded one. The source refers to PACK by absolute path.
              btf-pack emit-asm btf.tar.xz -o pack.S && cc prog.c pack.S -lbtfkit -lbpf -o prog
            """)

        @Argument(help: ArgumentHelp("The pack (btf-pack's output).", valueName: "PACK"))
        var pack: String

        @Option(name: .shortAndLong, help: ArgumentHelp("The assembler file to write.", valueName: "FILE.S"))
        var output: String

        func run() {
            checkOutputs([output], against: [pack])
            do {
                let bytes = try BTFPack.readFile(pack)
                _ = try BTFPack(bytes: bytes, source: pack)
                guard let absolute = FileIO.realPath(pack) else { fail(PackError(.unreadable, "cannot resolve the path", file: pack)) }
                try writeFile(Array(PackAssembly.source(packPath: absolute, packBytes: bytes.count).utf8), to: output)
                print("wrote \(output): .incbin \(absolute) (\(bytes.count) bytes) between \(PackAssembly.startSymbol) and \(PackAssembly.endSymbol)")
            } catch {
                fail(error)
            }
        }
    }

    struct Locate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which BTF the runtime chooses for this machine, as a program with the pack embedded would.",
            discussion: """
            Without --pack the pack is the .btfkit.pack section of this very executable (so run it on a \
            copy made with btf-pack embed). BTFKIT_BTF and BTFKIT_FORCE_EMBEDDED apply.
            """)

        @Option(help: ArgumentHelp("A pack file to use instead of the embedded one.", valueName: "PACK"))
        var pack: String?

        @Option(help: ArgumentHelp("Look for this kernel instead of the running one.", valueName: "DISTRO/VERSION/ARCH/RELEASE"))
        var kernel: String?

        func run() {
            var options = RuntimeBTFOptions()
            if let pack { options.pack = .file(pack) }
            if let kernel {
                let parts = kernel.split(separator: "/", maxSplits: 3).map(String.init)
                guard parts.count == 4 else { fail(ValidationError("--kernel must be DISTRO/VERSION/ARCH/RELEASE")) }
                options.identity = KernelIdentity(distro: parts[0], version: parts[1], arch: parts[2], release: parts[3])
            }
            do {
                let chosen = try RuntimeBTF.ensure(options)
                defer { chosen.release() }
                switch chosen.choice {
                case .kernel:
                    print("kernel BTF: \(options.kernelBTFPath) exists; libbpf uses it, btf_custom_path stays unset")
                case .override(let path):
                    print("override: \(RuntimeBTFOptions.btfOverrideVariable)=\(path)")
                case .packed(let identity, let packName):
                    var status = stat()
                    let size = stat(chosen.customPath ?? "", &status) == 0 ? "\(status.st_size) bytes" : "size unknown"
                    print("packed: \(identity) from \(packName)")
                    print("btf_custom_path: \(chosen.customPath ?? "") (\(size))")
                }
            } catch {
                fail(error)
            }
        }
    }
}

/// Writes `bytes` to `path` atomically, turning a failure into a PackError naming the file.
func writeFile(_ bytes: [UInt8], to path: String) throws(PackError) {
    do { try FileIO.writeAtomically(bytes, to: path) } catch { throw PackError(.unreadable, error.problem, file: path) }
}

/// Compares what the pack was trimmed for with `object`'s CO-RE relocations (PackFreshness) and
/// prints the outcome; a stale pack fails the command unless BTFKIT_ALLOW_STALE=1.
func checkFreshness(metadata: PackMetadata?, pack: String, object: String) {
    let freshness: PackFreshness
    do { freshness = try PackFreshness.check(metadata: metadata, pack: pack, object: .file(object)) } catch { fail(error) }
    guard let error = freshness.error else {
        print(freshness.line)
        return
    }
    guard RuntimeBTFOptions().environmentFlag(PackFreshness.allowStaleVariable) else { fail(error) }
    var standardError = StandardError()
    print("btf-pack: warning: \(freshness.staleMessage ?? ""); going on (\(PackFreshness.allowStaleVariable)=1)", to: &standardError)
}
