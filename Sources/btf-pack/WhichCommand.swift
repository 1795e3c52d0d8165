import ArgumentParser
import Archive
import BTF
import BTFRuntime
import Glibc

extension BTFPackCommand {
    /// `btf-pack which`: the selection dry run (RuntimeBTF.which), printed step by step.
    struct Which: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which entry of a pack the runtime would choose for a kernel, and why, without loading anything.",
            discussion: """
            Every value defaults to this machine: --id and --version-id from os-release (under \
            --host-root, or the file --os-release), --arch and --release from uname. An empty value \
            (--version-id "") means unknown. The steps tried are printed in order: exact match, the \
            release alone, the release's pattern with os-release, and (with --allow-nearest) the \
            nearest release; see docs/selection.md. The kernel's own /sys/kernel/btf/vmlinux is \
            reported but not used, so that the pack's choice is always shown. BTFKIT_BTF, \
            BTFKIT_ENTRY, BTFKIT_HOST_ROOT, BTFKIT_OS_RELEASE and BTFKIT_ALLOW_NEAREST apply as at \
            run time. With --object, the pack's record of what its kernels were trimmed for is \
            compared with the object's CO-RE relocations first; a stale pack is an error naming the \
            missing relocation (BTFKIT_ALLOW_STALE=1: a warning; docs/pack-format.md). Exit status 0 \
            when an entry is chosen, 1 otherwise.
              btf-pack which btf.tar.xz --id ubuntu --version-id 18.04 --release 5.4.0-1029-aws
              btf-pack which ./loader --host-root /host
            """)

        @Argument(help: ArgumentHelp("A pack, or an executable with one embedded (section .btfkit.pack).", valueName: "PACK"))
        var pack: String

        @Option(help: ArgumentHelp("os-release ID (ubuntu, centos, ...).", valueName: "ID"))
        var id: String?

        @Option(name: .customLong("version-id"), help: ArgumentHelp("os-release VERSION_ID (20.04, 8, ...).", valueName: "V"))
        var versionID: String?

        @Option(help: ArgumentHelp("uname -m (aarch64 is btfhub's arm64).", valueName: "ARCH"))
        var arch: String?

        @Option(help: ArgumentHelp("uname -r.", valueName: "RELEASE"))
        var release: String?

        @Option(name: .customLong("host-root"), help: ArgumentHelp("Read os-release under this directory (the host's / mounted in a container).", valueName: "DIR"))
        var hostRoot: String?

        @Option(name: .customLong("os-release"), help: ArgumentHelp("Read ID and VERSION_ID from this file.", valueName: "FILE"))
        var osRelease: String?

        @Flag(name: .customLong("allow-nearest"), help: "Allow the nearest packed release when this one is not packed.")
        var allowNearest = false

        @Option(help: ArgumentHelp("Also compare what the pack was trimmed for with this BPF object's CO-RE relocations (a stale pack: exit 1).", valueName: "OBJ"))
        var object: String?

        func run() {
            var options = RuntimeBTFOptions()
            options.pack = Self.startsWithELFMagic(pack)
                ? .elfSection(file: pack, section: ELFSectionEmbedder.packSectionName) : .file(pack)
            options.useKernelBTF = false
            options.hostRoot = hostRoot
            options.osReleaseFile = osRelease
            options.allowNearest = allowNearest
            options.osReleaseID = id
            options.osReleaseVersionID = versionID
            options.object = object.map { .file($0) }
            do {
                if arch != nil || release != nil {
                    let running = try RunningKernel.uname()
                    options.uname = (arch ?? running.machine, release ?? running.release)
                }
                let selection = try RuntimeBTF.which(options)
                // os-release values and pack entry names: escaped, one line each.
                for line in selection.explanation { print(escapedForTerminal(line)) }
            } catch {
                for line in error.explanation.dropLast() { print(escapedForTerminal(line)) }  // the last line is the message
                fflush(nil)  // the trail before the error, also when both go to one terminal
                fail(error)
            }
        }
    
        /// Whether `path` begins with `\x7fELF` (an executable carrying a pack, not a pack).
        static func startsWithELFMagic(_ path: String) -> Bool {
            // The pack reader reports an unreadable file or one that is not regular.
            guard let fd = try? FileIO.openRegularFile(path).fd else { return false }
            defer { close(fd) }
            var magic = [UInt8](repeating: 0, count: 4)
            let n = magic.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4) }
            return n == 4 && magic == [0x7f, 0x45, 0x4c, 0x46]
        }
    }
}
