import Archive
import BTF
import Foundation
@testable import TestSupport
import Testing

/// Reading btfhub `.btf.tar.xz` archives in memory, refusing hostile ones, and walking btfhub trees.
@Suite("Archive: btfhub archives and trees")
struct ArchiveTests {
    // MARK: - Real kernels

    /// A few kernels of the shared archive, including the 44 MB CentOS 8 4.18.0-147 one.
    static let realKernels = [
        "centos/8/x86_64/4.18.0-147.0.3.el8_1.x86_64.btf.tar.xz",
        "debian/10/x86_64/4.19.0-20-amd64.btf.tar.xz",
        "ubuntu/20.04/x86_64/5.4.0-26-generic.btf.tar.xz",
    ]

    @Test("real btfhub kernels decode to the same bytes as tar -xJf", .requiresSharedArchive, arguments: realKernels)
    func realKernelMatchesTar(relativePath: String) throws {
        try TestSupport.requireSharedArchive()
        let archive = TestSupport.sharedArchive + "/" + relativePath
        guard FileManager.default.fileExists(atPath: archive) else {
            Issue.record("\(archive) is not in the shared archive")
            return
        }
        let extracted = try KernelArchive.readBTF(fromArchive: archive)
        let reference = try Data(contentsOf: URL(fileURLWithPath: TestSupport.extractedKernel(archive)))
        #expect(extracted.memberPath.hasSuffix(".btf"))
        #expect(extracted.bytes.count == reference.count)
        #expect(extracted.bytes == [UInt8](reference))
        // And the bytes are kernel BTF, the whole point of reading them.
        let btf = try BTF(parsing: extracted.bytes, file: archive)
        #expect(btf.typeCount > 1000)
        // Its sections decompressed straight into the BTF's arrays: the same kernel.
        guard case .sections(let sections) = try KernelArchive.readBTFBlob(fromArchive: archive).contents else {
            Issue.record("\(archive): sections not streamed")
            return
        }
        #expect(try BTF(sections: sections, file: archive).serialized() == btf.serialized())
    }

    @Test("the size cap is enforced on real kernels too: the 44 MB kernel does not fit in 8 MiB", .requiresSharedArchive)
    func realKernelOverCap() throws {
        try TestSupport.requireSharedArchive()
        let archive = TestSupport.sharedArchive + "/" + Self.realKernels[0]
        let error = #expect(throws: ArchiveError.self) {
            try KernelArchive.readBTF(fromArchive: archive, maxDecompressedSize: 8 << 20)
        }
        #expect(error?.kind == .tooLarge)
        #expect(error?.description.contains(archive) == true)
    }

    // MARK: - Hostile archives

    /// One hostile archive: how to build it (a python3 snippet writing to `out`) and the error it must give.
    struct Hostile: Sendable, CustomTestStringConvertible {
        var name: String
        var expected: ArchiveError.Kind
        /// Python statements; `out` is the archive path, `tarfile`, `lzma`, `io`, `os` are imported,
        /// `add(tar, name, data)` adds a regular member and `data` is 256 KiB of incompressible bytes.
        var python: String
        var cap: Int = KernelArchive.defaultMaxDecompressedSize
        var testDescription: String { name }
    }

    static let hostileArchives: [Hostile] = [
        Hostile(name: "truncated xz", expected: .truncated, python: """
            with tarfile.open(out + ".whole", "w:xz") as tar: add(tar, "k.btf", data)
            whole = open(out + ".whole", "rb").read(); os.remove(out + ".whole")
            open(out, "wb").write(whole[: len(whole) // 2])
            """),
        Hostile(name: "bit-flipped xz data", expected: .corrupt, python: """
            with tarfile.open(out + ".whole", "w:xz") as tar: add(tar, "k.btf", data)
            whole = bytearray(open(out + ".whole", "rb").read()); os.remove(out + ".whole")
            whole[len(whole) // 2] ^= 0x10
            open(out, "wb").write(whole)
            """),
        Hostile(name: "not xz at all (gzip)", expected: .corrupt, python: """
            with tarfile.open(out, "w:gz") as tar: add(tar, "k.btf", data)
            """),
        Hostile(name: "no .btf member", expected: .noBTFMember, python: """
            with tarfile.open(out, "w:xz") as tar: add(tar, "README", b"hello"); add(tar, "k.btf.orig", data)
            """),
        Hostile(name: "an empty tar", expected: .noBTFMember, python: """
            with tarfile.open(out, "w:xz") as tar: pass
            """),
        Hostile(name: "two .btf members", expected: .severalBTFMembers, python: """
            with tarfile.open(out, "w:xz") as tar: add(tar, "a.btf", data); add(tar, "b.btf", data)
            """),
        Hostile(name: "a ../ member path", expected: .unsafePath, python: """
            with tarfile.open(out, "w:xz") as tar: add(tar, "../../etc/k.btf", data)
            """),
        Hostile(name: "an absolute member path", expected: .unsafePath, python: """
            with tarfile.open(out, "w:xz") as tar: add(tar, "/tmp/k.btf", data)
            """),
        Hostile(name: "a symbolic link member", expected: .link, python: """
            info = tarfile.TarInfo("k.btf"); info.type = tarfile.SYMTYPE; info.linkname = "/etc/passwd"
            with tarfile.open(out, "w:xz") as tar: tar.addfile(info)
            """),
        Hostile(name: "a hard link member", expected: .link, python: """
            info = tarfile.TarInfo("k.btf"); info.type = tarfile.LNKTYPE; info.linkname = "other"
            with tarfile.open(out, "w:xz") as tar: add(tar, "other", data); tar.addfile(info)
            """),
        Hostile(name: "a .btf directory", expected: .notRegularFile, python: """
            info = tarfile.TarInfo("k.btf"); info.type = tarfile.DIRTYPE
            with tarfile.open(out, "w:xz") as tar: tar.addfile(info)
            """),
        Hostile(name: "an empty .btf member", expected: .emptyMember, python: """
            with tarfile.open(out, "w:xz") as tar: add(tar, "k.btf", b"")
            """),
        Hostile(name: "an empty file", expected: .emptyFile, python: """
            open(out, "wb").close()
            """),
        // 64 MiB of zeros compress to about 10 KB; with a 1 MiB cap it must be refused from the header,
        // before anything is decompressed.
        Hostile(name: "a decompression bomb over a 1 MiB cap", expected: .tooLarge, python: """
            info = tarfile.TarInfo("k.btf"); info.size = 64 << 20
            with tarfile.open(out, "w:xz") as tar: tar.addfile(info, io.BytesIO(bytes(64 << 20)))
            """, cap: 1 << 20),
        Hostile(name: "a bomb hidden in a member that is not .btf", expected: .tooLarge, python: """
            info = tarfile.TarInfo("padding"); info.size = 64 << 20
            with tarfile.open(out, "w:xz") as tar: tar.addfile(info, io.BytesIO(bytes(64 << 20))); add(tar, "k.btf", data)
            """, cap: 1 << 20),
        // Empty members cost no data, only 512-byte headers: 4096 of them are 2 MiB of tar.
        Hostile(name: "thousands of empty members over a 1 MiB cap", expected: .tooLarge, python: """
            with tarfile.open(out, "w:xz") as tar:
                for i in range(4096): add(tar, "empty-%d" % i, b"")
                add(tar, "k.btf", data)
            """, cap: 1 << 20),
    ]

    @Test("a hostile archive gives the intended error, naming the file", arguments: hostileArchives)
    func hostileArchive(_ hostile: Hostile) throws {
        let dir = try TemporaryDirectory()
        let archive = dir.path + "/" + String(hostile.name.map { $0.isLetter || $0.isNumber ? $0 : "-" }) + ".btf.tar.xz"
        try HostileArchiveBuilder.build(hostile.python, at: archive)
        let error = #expect(throws: ArchiveError.self) {
            try KernelArchive.readBTF(fromArchive: archive, maxDecompressedSize: hostile.cap)
        }
        #expect(error?.kind == hostile.expected, "\(hostile.name): \(error.map { "\($0)" } ?? "no error")")
        #expect(error?.file == archive)
        #expect(error?.description.hasPrefix(archive + ": ") == true)
        // Read with the member's sections streamed (btf-trim without a cache), the same error.
        let streamedError = #expect(throws: ArchiveError.self) {
            try KernelArchive.readBTFBlob(fromArchive: archive, maxDecompressedSize: hostile.cap)
        }
        #expect(streamedError == error)
    }

    @Test("a hostile archive whose .btf member is real BTF: streaming its sections changes no error",
          arguments: hostileArchives)
    func hostileArchiveHoldingBTF(_ hostile: Hostile) throws {
        let dir = try TemporaryDirectory()
        let kernel = try KernelArchive.readBTF(fromArchive: Self.fixtureArchives()[0]).bytes
        let archive = dir.path + "/" + String(hostile.name.map { $0.isLetter || $0.isNumber ? $0 : "-" }) + ".btf.tar.xz"
        try HostileArchiveBuilder.build(hostile.python, at: archive, payload: kernel)
        let whole = Result { () throws(ArchiveError) in try KernelArchive.readBTF(fromArchive: archive, maxDecompressedSize: hostile.cap) }
        let streamed = Result { () throws(ArchiveError) in try KernelArchive.readBTFBlob(fromArchive: archive, maxDecompressedSize: hostile.cap) }
        switch (whole, streamed) {
        case (.failure(let a), .failure(let b)):
            #expect(a == b, "\(hostile.name)")
        case (.success(let extracted), .success(let blob)):
            // Only the empty member and the size caps depend on the payload: a kernel can pass them.
            guard case .sections(let sections) = blob.contents else { Issue.record("\(hostile.name): not streamed"); return }
            #expect(try BTF(sections: sections).serialized() == BTF(parsing: extracted.bytes).serialized(), "\(hostile.name)")
        default:
            Issue.record("\(hostile.name): read whole \(whole), streamed \(streamed)")
        }
    }

    @Test("fixture kernels (one big-endian) stream their sections and parse to the same BTF as their bytes")
    func fixturesStreamSections() throws {
        let archives = try Self.fixtureArchives()
        #expect(archives.contains { $0.contains("big-endian") })
        for archive in archives {
            let bytes = try KernelArchive.readBTF(fromArchive: archive).bytes
            let blob = try KernelArchive.readBTFBlob(fromArchive: archive)
            guard case .sections(let sections) = blob.contents else { Issue.record("\(archive): not streamed"); continue }
            #expect(sections.blobSize == bytes.count)
            let streamed = try BTF(sections: sections, file: archive), whole = try BTF(parsing: bytes, file: archive)
            #expect(streamed.byteOrder == whole.byteOrder && streamed.serialized() == whole.serialized(), "\(archive)")
        }
    }

    /// The `.btf.tar.xz` kernels of the repository's btfhub-fixtures, sorted.
    static func fixtureArchives() throws -> [String] {
        let archives = TestSupport.kernelArchives(under: TestSupport.fixtures).filter { $0.hasSuffix(".btf.tar.xz") }
        guard !archives.isEmpty else { throw TestSupportError("no archives under \(TestSupport.fixtures)") }
        return archives
    }

    @Test("a well-formed synthetic archive reads back its member exactly (the builder itself is sound)")
    func syntheticArchiveReads() throws {
        let dir = try TemporaryDirectory()
        let archive = dir.path + "/good.btf.tar.xz"
        try HostileArchiveBuilder.build("""
            with tarfile.open(out, "w:xz") as tar: add(tar, "./sub/", None); add(tar, "./sub/k.btf", data); add(tar, "NOTES", b"x")
            """, at: archive)
        let extracted = try KernelArchive.readBTF(fromArchive: archive)
        #expect(extracted.memberPath == "./sub/k.btf")
        #expect(extracted.bytes == HostileArchiveBuilder.payload)
    }

    @Test("a missing archive and a directory are reported as unreadable, naming the path")
    func unreadableArchive() throws {
        let dir = try TemporaryDirectory()
        for path in [dir.path + "/missing.btf.tar.xz", dir.path] {
            let error = #expect(throws: ArchiveError.self) { try KernelArchive.readBTF(fromArchive: path) }
            #expect(error?.kind == .unreadable)
            #expect(error?.description.hasPrefix(path + ": ") == true)
        }
    }

    // MARK: - Tree walking

    @Test("the shared btfhub archive holds 85 kernels; LICENSE and debian/buster are skipped", .requiresSharedArchive)
    func sharedTreeScan() throws {
        try TestSupport.requireSharedArchive()
        let tree = try BTFHubTree(scanning: TestSupport.sharedArchive)
        #expect(tree.kernels.count == 85)
        #expect(tree.skippedFiles.sorted() == ["LICENSE", "debian/buster"])
        #expect(tree.duplicates.isEmpty)
        let centos = try #require(tree.kernels.first { $0.release == "4.18.0-147.0.3.el8_1.x86_64" })
        #expect(centos.identity == KernelIdentity(distro: "centos", version: "8", arch: "x86_64", release: "4.18.0-147.0.3.el8_1.x86_64"))
        #expect(centos.relativePath == "centos/8/x86_64/4.18.0-147.0.3.el8_1.x86_64.btf.tar.xz")
        #expect(centos.inputPath == TestSupport.sharedArchive + "/" + centos.relativePath)
        #expect(centos.format == .compressedArchive)
        #expect(centos.identity.btfRelativePath == "centos/8/x86_64/4.18.0-147.0.3.el8_1.x86_64.btf")
        #expect(Set(tree.kernels.map(\.distro)) == ["centos", "debian", "ubuntu"])
        #expect(tree.kernels.map(\.relativePath) == tree.kernels.map(\.relativePath).sorted())
    }

    @Test("a root inside the tree (a distro or arch directory) still yields full identities", .requiresSharedArchive)
    func scanFromInsideTheTree() throws {
        try TestSupport.requireSharedArchive()
        let whole = try BTFHubTree(scanning: TestSupport.sharedArchive)
        for sub in ["ubuntu", "ubuntu/20.04/x86_64/"] {
            let tree = try BTFHubTree(scanning: TestSupport.sharedArchive + "/" + sub)
            #expect(tree.kernels.map(\.identity) == whole.kernels.filter { $0.distro == "ubuntu" }.map(\.identity))
            #expect(tree.kernels.allSatisfy { !$0.inputPath.contains("//") && FileManager.default.fileExists(atPath: $0.inputPath) })
        }
    }

    @Test("--arch keeps one architecture; aarch64 means arm64")
    func archFilter() throws {
        let dir = try TemporaryDirectory()
        for path in ["ubuntu/22.04/x86_64/5.15.0-1.btf.tar.xz", "ubuntu/22.04/arm64/5.15.0-1.btf.tar.xz",
                     "ubuntu/22.04/arm64/5.15.0-2.btf"] {
            try dir.write(path, [])
        }
        let arm = try BTFHubTree(scanning: dir.path, arch: "aarch64")
        #expect(arm.kernels.map(\.relativePath) == ["ubuntu/22.04/arm64/5.15.0-1.btf.tar.xz", "ubuntu/22.04/arm64/5.15.0-2.btf"])
        #expect(arm.kernels.map(\.format) == [.compressedArchive, .rawBTF])
        #expect(arm.filteredOutCount == 1)
        let x86 = try BTFHubTree(scanning: dir.path, arch: "x86_64")
        #expect(x86.kernels.map(\.arch) == ["x86_64"])
        #expect(x86.filteredOutCount == 2)
    }

    @Test("files too shallow to name a kernel are skipped; K.btf beside K.btf.tar.xz is a duplicate; excluded dirs are not entered")
    func skippedDuplicateAndExcluded() throws {
        let dir = try TemporaryDirectory()
        try dir.write("tree/stray.btf", [])
        try dir.write("tree/debian/10/x86_64/4.19.0-1-amd64.btf", [])
        try dir.write("tree/debian/10/x86_64/4.19.0-1-amd64.btf.tar.xz", [])
        try dir.write("tree/debian/10/x86_64/notes.txt", [])
        try dir.write("tree/out/debian/10/x86_64/4.19.0-9-amd64.btf", [])
        let tree = try BTFHubTree(scanning: dir.path + "/tree", excluding: [dir.path + "/tree/out"])
        #expect(tree.kernels.map(\.relativePath) == ["debian/10/x86_64/4.19.0-1-amd64.btf"])
        #expect(tree.duplicates.map(\.relativePath) == ["debian/10/x86_64/4.19.0-1-amd64.btf.tar.xz"])
        // stray.btf sits right under the root: the directory above it ("tree") is no architecture.
        #expect(tree.skippedFiles.sorted() == ["debian/10/x86_64/notes.txt", "stray.btf"])
        #expect(tree.kernels.allSatisfy { !$0.relativePath.hasPrefix("out/") })
    }

    @Test("a missing tree root is an error naming it")
    func missingRoot() throws {
        let error = #expect(throws: ArchiveError.self) { try BTFHubTree(scanning: "/nonexistent/btfhub") }
        #expect(error?.kind == .unreadable)
        #expect(error?.description.hasPrefix("/nonexistent/btfhub: ") == true)
    }
}
