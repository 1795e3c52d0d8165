import Archive
import BTF
import BTFRuntime
import BPFLoader
import CLibBPF
import Foundation
@testable import TestSupport
import Testing

/// BTFRuntime: os-release parsing, kernel identity, the selection policy, memfd exposure and
/// the libbpf glue.
@Suite("Runtime: choosing the running kernel's BTF")
struct RuntimeTests {
    // MARK: - os-release

    @Test("os-release values: double-quoted, single-quoted, unquoted, escaped; comments and junk ignored")
    func osReleaseParsing() {
        let text = """
        # a comment
        NAME="Ubuntu"
        ID=ubuntu
        ID_LIKE=debian
        VERSION_ID="20.04"
        PRETTY_NAME='Ubuntu 20.04.6 LTS'
        QUOTED="say \\"hi\\" \\$HOME \\\\ \\n"
        TRAILING=value   \("")
        not an assignment
          INDENTED=yes
        """
        let release = OSRelease(parsing: text)
        #expect(release.id == "ubuntu")
        #expect(release.versionID == "20.04")
        #expect(release.fields["PRETTY_NAME"] == "Ubuntu 20.04.6 LTS")
        #expect(release.fields["QUOTED"] == "say \"hi\" $HOME \\ \\n")
        #expect(release.fields["TRAILING"] == "value")
        #expect(release.fields["INDENTED"] == "yes")
        #expect(release.fields.count == 8)

        let centos = OSRelease(parsing: "NAME=\"CentOS Linux\"\nVERSION=\"8\"\nID=\"centos\"\nVERSION_ID=\"8\"\n")
        #expect(centos.id == "centos" && centos.versionID == "8")
        let unquoted = OSRelease(parsing: "ID=debian\r\nVERSION_ID=10\r\n")
        #expect(unquoted.id == "debian" && unquoted.versionID == "10")
        let rolling = OSRelease(parsing: "ID=arch\nBUILD_ID=rolling\n")
        #expect(rolling.id == "arch" && rolling.versionID == nil)
        #expect(OSRelease(parsing: "ID=\"\"\nVERSION_ID=\n").id == nil)
    }

    @Test("identity: /etc/os-release first, /usr/lib/os-release as fallback; aarch64 is arm64; missing VERSION_ID is an error")
    func identityFromFiles() throws {
        let dir = RuntimeTestSupport.temporaryDirectory()
        let etc = dir + "/etc-os-release", usr = dir + "/usr-os-release"
        try "ID=\"centos\"\nVERSION_ID=\"8\"\n".write(toFile: usr, atomically: true, encoding: .utf8)
        // /etc/os-release missing: the fallback is read.
        let fromUsr = try RunningKernel.identity(osReleasePaths: [etc, usr], machine: "aarch64", release: "4.18.0-80.el8.aarch64")
        #expect(fromUsr == KernelIdentity(distro: "centos", version: "8", arch: "arm64", release: "4.18.0-80.el8.aarch64"))
        // Both present: /etc wins.
        try "ID=ubuntu\nVERSION_ID=20.04\n".write(toFile: etc, atomically: true, encoding: .utf8)
        let fromEtc = try RunningKernel.identity(osReleasePaths: [etc, usr], machine: "x86_64", release: "5.4.0-26-generic")
        #expect(fromEtc == KernelIdentity(distro: "ubuntu", version: "20.04", arch: "x86_64", release: "5.4.0-26-generic"))

        try "ID=arch\n".write(toFile: etc, atomically: true, encoding: .utf8)
        let noVersion = #expect(throws: BTFRuntimeError.self) {
            try RunningKernel.identity(osReleasePaths: [etc, usr], machine: "x86_64", release: "6.6.1-arch1")
        }
        #expect(noVersion?.kind == .unknownIdentity)
        #expect(noVersion?.message.contains("\(etc) has no VERSION_ID= line (ID=arch)") == true)

        let none = #expect(throws: BTFRuntimeError.self) {
            try RunningKernel.identity(osReleasePaths: [dir + "/a", dir + "/b"], machine: "x86_64", release: "1")
        }
        #expect(none?.message.contains("no os-release file could be read: \(dir)/a (No such file or directory)") == true)

        // This machine: uname agrees with the identity.
        let (machine, release) = try RunningKernel.uname()
        let here = try RunningKernel.identity()
        #expect(here.release == release)
        #expect(here.arch == KernelIdentity.btfhubArch(forMachine: machine))
    }

    // MARK: - Policy

    @Test("policy: kernel BTF present means nothing to do; BTFKIT_BTF wins; BTFKIT_FORCE_EMBEDDED uses the pack")
    func policy() throws {
        let (bytes, identity, btf) = try RuntimeTestSupport.pack()
        var options = RuntimeBTFOptions()
        options.pack = .bytes(bytes, description: "test pack")
        options.identity = identity
        options.environment = [:]
        let existing = RuntimeTestSupport.temporaryDirectory() + "/vmlinux"
        try FileIO.writeAtomically([0], to: existing)
        options.kernelBTFPath = existing

        let kernel = try RuntimeBTF.ensure(options)
        #expect(kernel.choice == .kernel)
        #expect(kernel.customPath == nil)

        options.environment = ["BTFKIT_BTF": existing]
        let overridden = try RuntimeBTF.ensure(options)
        #expect(overridden.choice == .override(path: existing))
        #expect(overridden.customPath == existing)
        options.environment = ["BTFKIT_BTF": "/nonexistent/vmlinux.btf"]
        let badOverride = #expect(throws: BTFRuntimeError.self) { try RuntimeBTF.ensure(options) }
        #expect(badOverride?.kind == .badOverride)
        #expect(badOverride?.message.contains("BTFKIT_BTF=/nonexistent/vmlinux.btf") == true)

        options.environment = ["BTFKIT_FORCE_EMBEDDED": "1"]
        let forced = try RuntimeBTF.ensure(options)
        #expect(forced.choice == .packed(identity, pack: "test pack"))
        #expect(forced.customPath?.hasPrefix("/proc/self/fd/") == true)
        #expect(try FileIO.read(forced.customPath!) == btf)
        forced.release()
        forced.release()  // twice is fine

        // No kernel BTF: the pack is used without forcing.
        options.environment = [:]
        options.kernelBTFPath = "/nonexistent/vmlinux"
        let chosen = try RuntimeBTF.ensure(options)
        #expect(chosen.choice == .packed(identity, pack: "test pack"))
        // libbpf reads it: btf__parse accepts the memfd path.
        let parsed = btf__parse(chosen.customPath!, nil)
        #expect(parsed != nil)
        btf__free(parsed)
        chosen.release()
    }

    @Test("the memfd is sealed against writes; the temporary-file fallback is private and removed on release")
    func exposure() throws {
        let (bytes, identity, btf) = try RuntimeTestSupport.pack()
        var options = RuntimeTestSupport.forcedEmbeddedOptions(pack: bytes, identity: identity)

        let memory = try RuntimeBTF.ensure(options)
        let path = try #require(memory.customPath)
        let fd = open(path, O_WRONLY)
        #expect(fd >= 0)
        var byte: UInt8 = 0
        let written = write(fd, &byte, 1)
        let writeError = errno
        #expect(written == -1 && writeError == EPERM, "F_SEAL_WRITE refuses writes")
        close(fd)
        memory.release()

        options.forceTemporaryFile = true
        let file = try RuntimeBTF.ensure(options)
        let temporary = try #require(file.customPath)
        #expect(!temporary.hasPrefix("/proc/"))
        var status = stat()
        #expect(stat(temporary, &status) == 0)
        #expect(status.st_mode & 0o777 == 0o600)
        #expect(try FileIO.read(temporary) == btf)
        file.release()
        #expect(access(temporary, F_OK) != 0, "the temporary file is removed on release")
    }

    @Test("apply(to:) fills bpf_object_open_opts.btf_custom_path, or leaves it NULL for the kernel's own BTF")
    func libbpfOptions() throws {
        let (bytes, identity, _) = try RuntimeTestSupport.pack()
        var options = RuntimeTestSupport.forcedEmbeddedOptions(pack: bytes, identity: identity)
        let chosen = try RuntimeBTF.ensure(options)
        var opts = bpf_object_open_opts()
        opts.sz = MemoryLayout<bpf_object_open_opts>.size
        chosen.apply(to: &opts)
        #expect(opts.btf_custom_path.map { String(cString: $0) } == chosen.customPath)

        options.environment = [:]
        options.kernelBTFPath = "/"  // exists
        let kernel = try RuntimeBTF.ensure(options)
        kernel.apply(to: &opts)
        #expect(opts.btf_custom_path == nil)
        chosen.release()
    }

    @Test("no match, no pack, corrupt pack: errors name the identity, the nearest entries, the file")
    func errors() throws {
        let (bytes, identity, _) = try RuntimeTestSupport.pack()
        var options = RuntimeBTFOptions()
        options.environment = ["BTFKIT_FORCE_EMBEDDED": "1"]
        options.pack = .bytes(bytes, description: "test pack")
        var other = identity
        other.release = identity.release + "-not-packed"
        options.identity = other
        let miss = #expect(throws: BTFRuntimeError.self) { try RuntimeBTF.ensure(options) }
        #expect(miss?.kind == .noMatchingKernel)
        #expect(miss?.errnoCode == ENOENT)
        #expect(miss?.message.contains("no BTF for kernel \(other)") == true)
        #expect(miss?.message.contains("closest entries: \(identity)") == true)

        options.identity = identity
        options.pack = .elfSection(file: "/bin/true", section: ".btfkit.pack")
        let noPack = #expect(throws: BTFRuntimeError.self) { try RuntimeBTF.ensure(options) }
        #expect(noPack?.kind == .noPack && noPack?.remedy == .embedPack)
        #expect(noPack?.message.contains("/bin/true: has no section .btfkit.pack") == true)

        options.pack = .bytes(Array(bytes.prefix(bytes.count / 2)), description: "half a pack")
        let corrupt = #expect(throws: BTFRuntimeError.self) { try RuntimeBTF.ensure(options) }
        #expect(corrupt?.kind == .badPack)
        #expect(corrupt?.message.hasPrefix("half a pack: ") == true)

        options.pack = .file("/nonexistent/pack.tar.xz")
        let absent = #expect(throws: BTFRuntimeError.self) { try RuntimeBTF.ensure(options) }
        #expect(absent?.kind == .badPack)
        #expect(absent?.message.hasPrefix("/nonexistent/pack.tar.xz: ") == true)

        options.pack = .embedded  // the test runner has no pack
        let notEmbedded = #expect(throws: BTFRuntimeError.self) { try RuntimeBTF.ensure(options) }
        #expect(notEmbedded?.kind == .noPack)
    }
}
