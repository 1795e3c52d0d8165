import ArgumentParser
import BTF
import CommandSupport
import Glibc

@main
struct BTFDumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "btf-dump",
        abstract: "Print the types of a BTF file, or write it back out as raw BTF.",
        discussion: """
        FILE is raw BTF (a btfhub .btf file, /sys/kernel/btf/vmlinux) or an ELF file with a .BTF
        section (a BPF object, a vmlinux image, a kernel module). The text matches `bpftool btf dump
        file FILE`. A module's BTF is split BTF: give its base with --base (vmlinux BTF, raw or ELF), and
        the text matches `bpftool btf dump file FILE -B BASE`; -o then writes the module's split BTF.
        Exit status: 0 on success, 1 if FILE cannot be read or is not valid BTF, 2 on usage errors (bad flags,
        -o naming FILE or BASE itself, a device or a FIFO).
        """)

    @Argument(help: "The BTF or ELF file to read.")
    var file: String

    @Option(name: [.customShort("B"), .long], help: "Read FILE as split BTF against this base BTF (vmlinux, for a module).")
    var base: String?

    @Option(name: .shortAndLong, help: "Write the parsed BTF as raw BTF to this file instead of printing it.")
    var output: String?

    @Option(name: .long, help: "Byte order of the file written with -o: native (the input's), little or big.")
    var byteOrder: ByteOrderChoice = .native

    enum ByteOrderChoice: String, ExpressibleByArgument, CaseIterable {
        case native, little, big
    }

    func validate() throws {
        if output == nil && byteOrder != .native {
            throw ValidationError("--byte-order only applies when writing with -o")
        }
    }

    /// Like ArgumentParser's `main`, except that a usage error exits with status 2 (as btf-trim's do).
    static func main() {
        let command: BTFDumpCommand
        do { command = try parse() } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            printError(fullMessage(for: error))
            Glibc.exit(2)
        }
        do { try command.run() } catch { exit(withError: error) }
    }

    func run() throws {
        // ^C while writing with -o removes the temporary file.
        if output != nil { InterruptCleanup.install() }
        if let output {
            // Refused before reading: -o naming FILE itself, a device or a FIFO.
            do {
                try FileIO.checkOutputs([output], against: [file] + (base.map { [$0] } ?? []))
                try FileIO.checkOutputPath(output)
            } catch {
                printError("btf-dump: \(error)")
                throw ExitCode(2)
            }
        }
        let btf: BTF
        do {
            let baseBTF = try base.map { path throws(BTFError) in try BTF(contentsOf: path) }
            btf = try BTF(contentsOf: file, base: baseBTF)
        } catch {
            printError("btf-dump: \(error)")
            throw ExitCode(1)
        }
        if let output {
            let order: ByteOrder? = switch byteOrder {
            case .native: nil
            case .little: .little
            case .big: .big
            }
            do { try FileIO.writeAtomically(btf.serialized(byteOrder: order), to: output) } catch {
                printError("btf-dump: \(error)")
                throw ExitCode(1)
            }
            return
        }
        do { try btf.dump(toFileDescriptor: 1) } catch {
            printError("btf-dump: \(error)")
            throw ExitCode(1)
        }
    }
}
