@testable import Archive
import BTF
import Foundation
@testable import TestSupport
import Testing

/// btf-pack: deterministic packs, hard-linked duplicates, bpf-compatible's tar.gz, ELF embedding
/// into Swift- and C-built executables, strip survival, and clear errors for broken packs.
@Suite("Pack: btf-pack archives and ELF embedding")
struct PackTests {
    // MARK: - Packing

    @Test("packing twice, in any input order, gives identical bytes; btf-pack prints the figures")
    func deterministic() throws {
        let inputs = try PackFixtures.trimmedInputs()
        let first = try PackWriter.pack(inputs)
        let second = try PackWriter.pack(inputs.reversed())
        #expect(first.bytes == second.bytes)
        #expect(first.summary.entries == inputs.count)
        #expect(first.summary.rawBytes == inputs.reduce(0) { $0 + $1.btf.count })

        let tree = try PackFixtures.writeTree(inputs)
        let out1 = PackFixtures.temporaryPath("a.tar.xz"), out2 = PackFixtures.temporaryPath("b.tar.xz")
        let run1 = try TestSupport.run(try PackFixtures.product("btf-pack"), [tree, "-o", out1])
        sleep(1)  // a timestamp leaking into the archive would now differ
        let run2 = try TestSupport.run(try PackFixtures.product("btf-pack"), ["pack", tree, "-o", out2])
        #expect(run1.status == 0 && run2.status == 0, "\(run1.stderr) \(run2.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out1)) == Data(contentsOf: URL(fileURLWithPath: out2)))
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: out1))) == first.bytes)
        let printed = String(decoding: run1.stdout, as: UTF8.self)
        #expect(printed.contains("entries: \(inputs.count)\n"))
        #expect(printed.contains("unique contents: \(first.summary.uniqueContents)\n"))
        #expect(printed.contains("raw bytes: \(first.summary.rawBytes)\n"))
        #expect(printed.contains("packed bytes: \(first.bytes.count) "))
    }

    @Test("identical files are stored once, later ones as tar hard links; tar and BTFPack both resolve them")
    func hardLinkedDuplicates() throws {
        let inputs = try PackFixtures.trimmedInputs()
        let packed = try PackWriter.pack(inputs)
        let distinct = Set(inputs.map(\.btf)).count
        #expect(distinct < inputs.count, "the fixtures must contain duplicates for this test to mean anything")
        #expect(packed.summary.uniqueContents == distinct)

        let file = PackFixtures.temporaryPath("dups.tar.xz")
        try FileIO.writeAtomically(packed.bytes, to: file)
        let listing = try TestSupport.run("tar", ["-tvJf", file])
        #expect(listing.status == 0, "\(listing.stderr)")
        let lines = String(decoding: listing.stdout, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == inputs.count)
        #expect(lines.filter { $0.hasPrefix("h") }.count == inputs.count - distinct)
        #expect(lines.allSatisfy { $0.contains("root/root") && $0.contains("1970-01-01") })
        let names = try TestSupport.run("tar", ["-tJf", file]).stdout
        #expect(String(decoding: names, as: UTF8.self).split(separator: "\n").map(String.init) == inputs.map(\.identity.btfRelativePath).sorted())

        // tar -xJf gives back every file byte for byte.
        let dir = PackFixtures.temporaryPath("extract")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let extraction = try TestSupport.run("tar", ["-xJf", file, "-C", dir])
        #expect(extraction.status == 0, "\(extraction.stderr)")
        for input in inputs {
            let extracted = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/" + input.identity.btfRelativePath)))
            #expect(extracted == input.btf, "\(input.identity)")
        }

        // BTFPack resolves the links to the first copy's bytes.
        let pack = try BTFPack(bytes: packed.bytes, source: file)
        #expect(pack.entries.count == inputs.count)
        #expect(pack.contents.count == distinct)
        for input in inputs { #expect(pack.btf(for: input.identity) == input.btf, "\(input.identity)") }
        // The early-stopping lookup agrees with the full read.
        for input in inputs {
            #expect(try BTFPack.btf(for: input.identity, inPack: packed.bytes, source: file) == input.btf)
        }
    }

    @Test("a pack streamed from a tree to its file is pack()'s; xz -lvv shows the dictionary sized to the tar; gzip -t accepts tar.gz")
    func streamedToFile() throws {
        let inputs = try PackFixtures.trimmedInputs()
        let tree = try BTFHubTree(scanning: try PackFixtures.writeTree(inputs))
        for format in PackFormat.allCases {
            let output = PackFixtures.temporaryPath("streamed.\(format.rawValue)")
            let summary = try PackWriter.write(try PackWriter.sources(of: tree), format: format, to: output)
            let inMemory = try PackWriter.pack(inputs, format: format)
            #expect(try FileIO.read(output) == inMemory.bytes, "\(format)")
            #expect(summary == inMemory.summary)
            #expect(summary.packedBytes == inMemory.bytes.count)
            let test = try TestSupport.run(format == .tarXZ ? "xz" : "gzip", ["-t", output])
            #expect(test.status == 0, "\(format): \(test.stderr)")
            let entries = String(decoding: try TestSupport.run("tar", ["-tf", output]).stdout, as: UTF8.self).split(separator: "\n")
            #expect(entries.count == inputs.count)
        }

        // xz's own reading of the stream: one block, LZMA2 with the smallest power-of-two dictionary
        // (at least 64 KiB) that holds the whole tar, which is what a decoder allocates; and the
        // very bytes xz -9e writes for that tar with that dictionary (single-threaded, as one stream).
        let output = PackFixtures.temporaryPath("dictionary.tar.xz")
        _ = try PackWriter.write(try PackWriter.sources(of: tree), to: output)
        let tar = PackFixtures.temporaryPath("dictionary.tar")
        #expect(try TestSupport.run("xz", ["-dc", output], stdoutPath: tar).status == 0)
        let tarSize = try FileIO.read(tar).count
        var dictionary = 64 << 10
        while dictionary < tarSize { dictionary <<= 1 }
        let listing = String(decoding: try TestSupport.run("xz", ["--robot", "-lvv", output]).stdout, as: UTF8.self)
        let blocks = listing.split(separator: "\n").filter { $0.hasPrefix("block\t") }
        #expect(blocks.count == 1, "\(listing)")
        #expect(blocks.first?.hasSuffix("\t--lzma2=dict=\(dictionary >> 10)KiB") == true, "tar of \(tarSize) bytes: \(listing)")
        let reference = PackFixtures.temporaryPath("reference.tar.xz")
        let xz = try TestSupport.run("xz", ["-T1", "--format=xz", "--check=crc64", "--lzma2=preset=9e,dict=\(dictionary >> 10)KiB", "-c", tar],
                                     stdoutPath: reference)
        #expect(xz.status == 0, "\(xz.stderr)")
        #expect(try FileIO.read(reference) == FileIO.read(output), "xz -9e of the same tar differs")
    }

    @Test("an AtomicFile dropped without commit leaves nothing; committed, it replaces the output whole")
    func atomicFile() throws {
        let directory = PackFixtures.temporaryPath("atomic")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let output = directory + "/pack.tar.xz"
        try FileIO.writeAtomically([1, 2, 3], to: output)
        do {
            let file = try FileIO.AtomicFile(replacing: output)
            try file.write([9, 9])
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory).count == 2)  // the output and the temporary file
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["pack.tar.xz"])
        #expect(try FileIO.read(output) == [1, 2, 3])
        let file = try FileIO.AtomicFile(replacing: output)
        try file.write([4])
        try file.write([5, 6])
        try file.commit()
        #expect(try FileIO.read(output) == [4, 5, 6])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["pack.tar.xz"])
        // A pack that fails (a kernel that is not BTF) writes nothing.
        let tree = PackFixtures.temporaryPath("bad-tree")
        try FileManager.default.createDirectory(atPath: tree + "/d/1/x86_64", withIntermediateDirectories: true)
        try FileIO.writeAtomically(Array("not BTF".utf8), to: tree + "/d/1/x86_64/r.btf")
        let failed = #expect(throws: PackError.self) { try PackWriter.write(directory: tree, to: output) }
        #expect(failed?.description.hasPrefix(tree + "/d/1/x86_64/r.btf: not BTF, so not packed") == true, "\(String(describing: failed))")
        #expect(try FileIO.read(output) == [4, 5, 6])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["pack.tar.xz"])
    }

    @Test("--format tar.gz: bpf-compatible's ./btfhub-archive/<id>/<version_id>/<machine>/ layout, no links, aarch64")
    func bpfCompatibleLayout() throws {
        var inputs = try PackFixtures.trimmedInputs()
        #expect(inputs.contains { $0.identity.arch == "arm64" })
        let packed = try PackWriter.pack(inputs, format: .tarGz)
        #expect(packed.bytes.starts(with: [0x1f, 0x8b]))
        let file = PackFixtures.temporaryPath("compat.tar.gz")
        try FileIO.writeAtomically(packed.bytes, to: file)
        let listing = try TestSupport.run("tar", ["-tvzf", file])
        #expect(listing.status == 0, "\(listing.stderr)")
        let lines = String(decoding: listing.stdout, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == inputs.count)
        #expect(lines.allSatisfy { $0.hasPrefix("-") }, "bpf-compatible's runtime reads a hard link as an empty file")
        #expect(lines.allSatisfy { $0.contains(" ./btfhub-archive/") })
        #expect(lines.contains { $0.contains("/aarch64/") } && !lines.contains { $0.contains("/arm64/") })
        // Deterministic too: gzip's header carries no time (bytes 4-7 are zero).
        #expect(packed.bytes[4 ..< 8] == [0, 0, 0, 0])
        sleep(1)
        #expect(try PackWriter.pack(inputs.reversed(), format: .tarGz).bytes == packed.bytes)
        // BTFPack reads it back under btfhub's names.
        let pack = try BTFPack(bytes: packed.bytes, source: file)
        inputs.sort { $0.identity < $1.identity }
        #expect(pack.identities == inputs.map(\.identity))
        for input in inputs { #expect(pack.btf(for: input.identity) == input.btf) }
    }

    // MARK: - Lookups

    @Test("a lookup hits exact entries and misses with the identity and the nearest releases named")
    func lookupHitAndMiss() throws {
        let content: [UInt8] = Array("not BTF, but packs do not care".utf8)
        let releases = ["5.4.0-26-generic", "5.4.0-37-generic", "5.4.0-91-generic", "5.8.0-63-generic", "5.11.0-1028-gcp"]
        let inputs = releases.map { PackInput(identity: KernelIdentity(distro: "ubuntu", version: "20.04", arch: "x86_64", release: $0), btf: content) }
            + [PackInput(identity: KernelIdentity(distro: "centos", version: "8", arch: "x86_64", release: "4.18.0-80.el8.x86_64"), btf: content)]
        let bytes = try PackWriter.pack(inputs).bytes
        let hit = KernelIdentity(distro: "ubuntu", version: "20.04", arch: "x86_64", release: "5.4.0-37-generic")
        #expect(try BTFPack.btf(for: hit, inPack: bytes, source: "test.tar.xz") == content)

        let miss = KernelIdentity(distro: "ubuntu", version: "20.04", arch: "x86_64", release: "5.4.0-40-generic")
        let error = #expect(throws: PackError.self) { try BTFPack.btf(for: miss, inPack: bytes, source: "test.tar.xz") }
        #expect(error?.kind == .noEntry)
        let message = error?.description ?? ""
        #expect(message.hasPrefix("test.tar.xz: no BTF for kernel ubuntu/20.04/x86_64/5.4.0-40-generic"))
        #expect(message.contains("closest entries: ubuntu/20.04/x86_64/5.4.0-37-generic, ubuntu/20.04/x86_64/5.4.0-26-generic, ubuntu/20.04/x86_64/5.4.0-91-generic"))

        let otherDistro = KernelIdentity(distro: "debian", version: "12", arch: "x86_64", release: "6.1.0-50-amd64")
        let other = #expect(throws: PackError.self) { try BTFPack.btf(for: otherDistro, inPack: bytes, source: "test.tar.xz") }
        #expect(other?.description.contains("it has no debian/12/x86_64 kernel, only centos/8/x86_64, ubuntu/20.04/x86_64") == true)
    }

    // MARK: - Broken packs

    @Test("absent, empty, garbage, truncated and hostile packs give clear errors naming the file")
    func brokenPacks() throws {
        let missing = #expect(throws: PackError.self) { try BTFPack(contentsOf: "/nonexistent/pack.tar.xz") }
        #expect(missing?.kind == .unreadable)
        #expect(missing?.description.hasPrefix("/nonexistent/pack.tar.xz: ") == true)

        let empty = #expect(throws: PackError.self) { try BTFPack(bytes: [UInt8](), source: "empty.tar.xz") }
        #expect(empty?.kind == .corrupt)
        #expect(empty?.description == "empty.tar.xz: empty pack (0 bytes)")

        let garbage = #expect(throws: PackError.self) { try BTFPack(bytes: Array("hello, this is not a pack".utf8), source: "garbage") }
        #expect(garbage?.kind == .corrupt)
        #expect(garbage?.description.hasPrefix("garbage: corrupt pack") == true)

        let good = try PackWriter.pack(try PackFixtures.trimmedInputs()).bytes
        for cut in [good.count / 4, good.count / 2, good.count - 20] {
            let truncated = #expect(throws: PackError.self) { try BTFPack(bytes: good.prefix(cut), source: "cut.tar.xz") }
            #expect(truncated?.kind == .corrupt, "cut at \(cut)")
            #expect(truncated?.description.hasPrefix("cut.tar.xz: ") == true)
        }
        var flipped = good
        flipped[flipped.count / 2] ^= 0xff
        #expect(throws: PackError.self) { try BTFPack(bytes: flipped, source: "flipped.tar.xz") }

        // A hard link to a member that does not come first, and an absolute path.
        let linkWriter = try TarArchiveWriter(compression: .none)
        try linkWriter.addHardLink(path: "debian/12/x86_64/6.1.0-1-amd64.btf", target: "debian/12/x86_64/6.1.0-9-amd64.btf")
        let dangling = #expect(throws: PackError.self) { try BTFPack(bytes: try PackXZ.compress(linkWriter.finish()), source: "link.tar.xz") }
        #expect(dangling?.kind == .badMember)
        #expect(dangling?.member == "debian/12/x86_64/6.1.0-1-amd64.btf")

        let absoluteWriter = try TarArchiveWriter(compression: .gzip(level: 1))
        try absoluteWriter.addFile(path: "/etc/debian/12/x86_64/6.1.0-1-amd64.btf", contents: [1, 2, 3])
        let absolute = #expect(throws: PackError.self) { try BTFPack(bytes: try absoluteWriter.finish(), source: "abs.tar.gz") }
        #expect(absolute?.kind == .badMember)

        // A pack that expands past the cap.
        let big = try PackWriter.pack([PackInput(identity: KernelIdentity(distro: "d", version: "1", arch: "x86_64", release: "r"),
                                                 btf: [UInt8](repeating: 7, count: 1 << 20))])
        let bomb = #expect(throws: PackError.self) { try BTFPack(bytes: big.bytes, source: "bomb.tar.xz", maxExpandedSize: 1 << 16) }
        #expect(bomb?.kind == .tooLarge)

        // The CLI reports a tree without kernels and exits 1.
        let emptyTree = PackFixtures.temporaryPath("empty-tree")
        try FileManager.default.createDirectory(atPath: emptyTree, withIntermediateDirectories: true)
        let run = try TestSupport.run(try PackFixtures.product("btf-pack"), [emptyTree, "-o", PackFixtures.temporaryPath("x.tar.xz")])
        #expect(run.status == 1)
        #expect(run.stderr.contains("\(emptyTree): no <distro>/<version>/<arch>/<release>.btf file"))
    }

    // MARK: - ELF embedding

    @Test("embedding into a Swift-built executable: it still runs, finds its pack, and survives strip")
    func embedIntoSwiftExecutable() throws {
        let (tree, identity, btf) = try PackFixtures.treeWithRunningKernel()
        let pack = PackFixtures.temporaryPath("self.tar.xz")
        let btfPack = try PackFixtures.product("btf-pack")
        #expect(try TestSupport.run(btfPack, [tree, "-o", pack]).status == 0)

        let before = try Data(contentsOf: URL(fileURLWithPath: btfPack))
        let embedded = PackFixtures.temporaryPath("btf-pack-embedded")
        let embedRun = try TestSupport.run(btfPack, ["embed", pack, "--into", btfPack, "-o", embedded])
        #expect(embedRun.status == 0, "\(embedRun.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: btfPack)) == before, "the input must not change")
        #expect(FileManager.default.isExecutableFile(atPath: embedded))

        // Readable by readelf as a non-allocated PROGBITS section holding exactly the pack.
        let sections = try TestSupport.run("readelf", ["-S", "-W", embedded])
        let line = String(decoding: sections.stdout, as: UTF8.self).split(separator: "\n").first { $0.contains(".btfkit.pack") }
        #expect(line?.contains("PROGBITS") == true)
        #expect(try ELFSectionReader.contents(inFile: embedded) == [UInt8](Data(contentsOf: URL(fileURLWithPath: pack))))

        for binary in [embedded, try PackFixtures.stripped(embedded)] {
            // The kernel has BTF: nothing to do, unless forced.
            let plain = try PackFixtures.runWithEnvironment(binary, ["locate"], [:])
            #expect(plain.status == 0, "\(plain.stderr)")
            let forced = try PackFixtures.runWithEnvironment(binary, ["locate"], ["BTFKIT_FORCE_EMBEDDED": "1"])
            #expect(forced.status == 0, "\(binary): \(forced.stderr)")
            let out = forced.stdout
            #expect(out.contains("packed: \(identity) from section .btfkit.pack of \(binary)"), "\(out)")
            #expect(out.contains("btf_custom_path: /proc/self/fd/"))
            #expect(out.contains("(\(btf.count) bytes)"))
        }

        // llvm-strip drops non-allocated sections unless told to keep this one (as docs/c-api.md says).
        if let llvmStrip = try? TestSupport.which("llvm-strip") {
            let dropped = PackFixtures.temporaryPath("llvm-stripped"), kept = PackFixtures.temporaryPath("llvm-kept")
            #expect(try TestSupport.run(llvmStrip, ["-o", dropped, embedded]).status == 0)
            #expect(try TestSupport.run(llvmStrip, ["--keep-section=.btfkit.pack", "-o", kept, embedded]).status == 0)
            #expect(throws: PackError.self) { try ELFSectionReader.contents(inFile: dropped) }
            #expect(try ELFSectionReader.contents(inFile: kept) == [UInt8](Data(contentsOf: URL(fileURLWithPath: pack))))
            let run = try PackFixtures.runWithEnvironment(kept, ["locate"], ["BTFKIT_FORCE_EMBEDDED": "1"])
            #expect(run.status == 0 && run.stdout.contains("packed: \(identity)"), "\(run.stderr)")
        }

        // Embedding twice is refused; so are files that are not ELF64.
        let again = try TestSupport.run(btfPack, ["embed", pack, "--into", embedded, "-o", PackFixtures.temporaryPath("twice")])
        #expect(again.status == 1 && again.stderr.contains("already has a section .btfkit.pack"))
        let notELF = #expect(throws: PackError.self) {
            try ELFSectionEmbedder.embed([1], into: pack, output: PackFixtures.temporaryPath("nope"))
        }
        #expect(notELF?.kind == .notELF)
        let sameFile = try TestSupport.run(btfPack, ["embed", pack, "--into", embedded, "-o", embedded])
        // A usage error (exit 2), refused before anything is read.
        #expect(sameFile.status == 2 && sameFile.stderr.contains("is the same file as the input"), "\(sameFile.stderr)")
    }

    @Test("the section appender on minimal ELF64 files of both byte orders: BTF's ELF parser and readelf see the new section", arguments: [ByteOrder.little, .big])
    func appenderBothByteOrders(order: ByteOrder) throws {
        let elf = MinimalELF.build(order)
        let data: [UInt8] = Array("pack bytes".utf8)
        let output = try ELFSectionEmbedder.appendingSection(named: ".btfkit.pack", data: data, to: elf, file: "minimal")
        // Everything but e_shoff/e_shnum in the ELF header stays where and what it was; the rest is appended.
        #expect(output[0 ..< 40] == elf[0 ..< 40])
        #expect(output[64 ..< elf.count] == elf[64...])
        // The project's independent ELF reader agrees.
        let parsed = try ELFFile(parsing: output, file: "minimal")
        #expect(parsed.sections.map(\.name) == ["", ".shstrtab", ".text", ".btfkit.pack"])
        let section = try #require(parsed.section(named: ".btfkit.pack"))
        #expect(Array(try parsed.contents(of: section)) == data)
        #expect(section.flags == 0 && section.type == 1)
        #expect(Array(try parsed.contents(of: try #require(parsed.section(named: ".text")))) == [0xc3, 0xc3, 0xc3, 0xc3])
        // So does the pread-based reader and binutils.
        let file = PackFixtures.temporaryPath("minimal.elf")
        try FileIO.writeAtomically(output, to: file)
        #expect(try ELFSectionReader.contents(inFile: file) == data)
        let readelf = try TestSupport.run("readelf", ["-S", "-W", file])
        #expect(readelf.status == 0 && readelf.stderr.isEmpty, "\(readelf.stderr)")
        #expect(String(decoding: readelf.stdout, as: UTF8.self).contains(".btfkit.pack"))
        // Damaged inputs are refused with the file named.
        var cut = elf
        cut.removeLast(100)
        let error = #expect(throws: PackError.self) { try ELFSectionEmbedder.appendingSection(named: ".x", data: [], to: cut, file: "cut.elf") }
        #expect(error?.kind == .notELF)
        #expect(error?.description.hasPrefix("cut.elf: ") == true)
    }

    @Test("an ELF file cut inside its header, its section header table or a section it lists: the same error from ELFFile, the pread reader and the embedder, as readelf complains too")
    func truncatedELFHeaders() throws {
        let elf = MinimalELF.build(.little)
        let shoff = 88, tableSize = 3 * 64  // MinimalELF's layout: names and .text, then the table
        #expect(elf.count == shoff + tableSize && Self.load64(at: 0x28, in: elf) == UInt64(shoff))
        // Extended numbering: e_shnum 0, the count in section 0's sh_size.
        var extended = elf
        extended.replaceSubrange(0x3C ..< 0x3E, with: [0, 0])
        extended.replaceSubrange((shoff + 0x20) ..< (shoff + 0x28), with: [3, 0, 0, 0, 0, 0, 0, 0])
        // The name table moved behind the section header table (its header points there).
        var namesLast = elf
        let names = Array(elf[64 ..< 81])
        namesLast += names
        namesLast.replaceSubrange((shoff + 64 + 0x18) ..< (shoff + 64 + 0x20), with: [UInt8(elf.count & 0xff), UInt8(elf.count >> 8), 0, 0, 0, 0, 0, 0])
        #expect(try ELFFile(parsing: extended).sections.map(\.name) == ["", ".shstrtab", ".text"])
        #expect(try ELFFile(parsing: namesLast).sections.map(\.name) == ["", ".shstrtab", ".text"])
        let cuts: [(what: String, bytes: [UInt8], length: Int, problem: String)] = [
            ("inside the magic", elf, 3, "not an ELF file (bad magic)"),
            ("after the class", elf, 5, "truncated ELF header: 5 bytes, 64 needed"),
            ("inside the ELF header", elf, 40, "truncated ELF header: 40 bytes, 64 needed"),
            ("one byte short of the ELF header", elf, 63, "truncated ELF header: 63 bytes, 64 needed"),
            ("before the section header table", elf, 80, "section header table at 88 is past the end of the file"),
            ("where the section header table starts", elf, shoff, "section header table at 88 is past the end of the file"),
            ("inside section header 0", elf, shoff + 1, "section header table (3 entries at 88) runs past the end of the file"),
            ("inside section header 1", elf, shoff + 64 + 20, "section header table (3 entries at 88) runs past the end of the file"),
            ("one byte short of the table", elf, elf.count - 1, "section header table (3 entries at 88) runs past the end of the file"),
            ("inside section header 0, extended numbering", extended, shoff + 30, "section header 0 lies outside the file"),
            ("inside the name table", namesLast, namesLast.count - 5, "section 1 at \(elf.count)+17 lies outside the \(namesLast.count - 5)-byte file"),
        ]
        for (what, bytes, length, problem) in cuts {
            let cut = Array(bytes[..<length])
            let path = PackFixtures.temporaryPath("cut-\(length).elf")
            try FileIO.writeAtomically(cut, to: path)
            let parsed = #expect(throws: BTFError.self, "\(what)") { try ELFFile(parsing: cut, file: path) }
            #expect(parsed?.problem == problem, "\(what): \(String(describing: parsed))")
            // The pread reader and the embedder build on the same parser: the same words, with its offset.
            let located = "offset \(parsed?.offset ?? -1): \(problem)"
            let read = #expect(throws: PackError.self, "\(what)") { try ELFSectionReader.contents(inFile: path) }
            #expect(read?.kind == .notELF && read?.problem == located, "\(what): \(String(describing: read))")
            #expect(read?.description.hasPrefix(path + ": ") == true, "\(what): \(String(describing: read))")
            let embedded = #expect(throws: PackError.self, "\(what)") {
                try ELFSectionEmbedder.appendingSection(named: ".x", data: [1], to: cut, file: path)
            }
            #expect(embedded?.kind == .notELF && embedded?.problem == located, "\(what): \(String(describing: embedded))")
            // binutils' reader notices too.
            let readelf = try TestSupport.run("readelf", ["-S", "-W", path])
            #expect(!readelf.stderr.isEmpty, "\(what): readelf said nothing")
        }
    }

    private static func load64(at offset: Int, in bytes: [UInt8]) -> UInt64 {
        (0 ..< 8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }

    @Test("embedding into a C-built libbpf program, and linking emit-asm's output: btfkit_ensure_core_btf finds the pack")
    func embedIntoCProgram() throws {
        let (tree, _, _) = try PackFixtures.treeWithRunningKernel()
        let pack = PackFixtures.temporaryPath("c.tar.xz")
        let btfPack = try PackFixtures.product("btf-pack")
        #expect(try TestSupport.run(btfPack, [tree, "-o", pack]).status == 0)
        let object = try PackFixtures.execsnoopObject()

        // Post-link embedding.
        let program = try CProgram.build(name: "c-loader")
        let embedded = PackFixtures.temporaryPath("c-loader-embedded")
        #expect(try TestSupport.run(btfPack, ["embed", pack, "--into", program, "-o", embedded]).status == 0)
        try CProgram.expectLoads(embedded, object: object)
        try CProgram.expectLoads(try PackFixtures.stripped(embedded), object: object)
        // The real case: a kernel without /sys/kernel/btf/vmlinux (a tmpfs hides it in a private mount
        // namespace), no forcing. libbpf then has only the embedded BTF to relocate against.
        if TestSupport.isRoot, let unshare = try? TestSupport.which("unshare") {
            let script = "mount -t tmpfs none /sys/kernel/btf && test ! -e /sys/kernel/btf/vmlinux && exec \"$0\" \"$1\""
            let hidden = try PackFixtures.runWithEnvironment(unshare, ["-m", "sh", "-c", script, embedded, object], [:])
            #expect(hidden.status == 0, "\(hidden.stdout) \(hidden.stderr)")
            #expect(hidden.stdout.contains("btf_custom_path=/proc/self/fd/") && hidden.stdout.contains("load=0"), "\(hidden.stdout)")
        } else {
            TestSupport.skipPart("the BTF-less kernel case needs root and unshare")
        }
        // Without a pack the error says so.
        let bare = try PackFixtures.runWithEnvironment(program, [object], ["BTFKIT_FORCE_EMBEDDED": "1"])
        #expect(bare.status == 2)
        #expect(bare.stderr.contains("-95") && bare.stderr.contains("has no section .btfkit.pack"), "\(bare.stderr)")

        // Build-time linking of emit-asm's source; the symbols work too.
        let assembly = PackFixtures.temporaryPath("pack.S")
        let emit = try TestSupport.run(btfPack, ["emit-asm", pack, "-o", assembly])
        #expect(emit.status == 0, "\(emit.stderr)")
        let linked = try CProgram.build(name: "c-loader-linked", extraSources: [assembly])
        try CProgram.expectLoads(linked, object: object)
        // Its section is allocated, so even llvm-strip keeps it.
        if let llvmStrip = try? TestSupport.which("llvm-strip") {
            let stripped = PackFixtures.temporaryPath("c-loader-linked-llvm-stripped")
            #expect(try TestSupport.run(llvmStrip, ["-o", stripped, linked]).status == 0)
            try CProgram.expectLoads(stripped, object: object)
        }
        let viaSymbols = try CProgram.build(name: "c-loader-symbols", extraSources: [assembly], defines: ["-DUSE_PACK_SYMBOLS"])
        try CProgram.expectLoads(viaSymbols, object: object)
    }
}

/// A minimal ELF64 relocatable file: a null section, .shstrtab and a 4-byte .text, in either byte order.
enum MinimalELF {
    static func build(_ order: ByteOrder) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 64)
        func put(_ value: UInt64, at offset: Int, width: Int, in buffer: inout [UInt8]) {
            for i in 0 ..< width { buffer[offset + (order == .little ? i : width - 1 - i)] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
        }
        bytes[0 ..< 4] = [0x7f, 0x45, 0x4c, 0x46]
        bytes[4] = 2
        bytes[5] = order == .little ? 1 : 2
        bytes[6] = 1
        put(1, at: 16, width: 2, in: &bytes)        // e_type = ET_REL
        put(0xf7, at: 18, width: 2, in: &bytes)     // e_machine = EM_BPF
        put(1, at: 20, width: 4, in: &bytes)        // e_version
        put(64, at: 52, width: 2, in: &bytes)       // e_ehsize
        put(64, at: 58, width: 2, in: &bytes)       // e_shentsize
        put(3, at: 60, width: 2, in: &bytes)        // e_shnum
        put(1, at: 62, width: 2, in: &bytes)        // e_shstrndx
        let names = Array("\0.shstrtab\0.text\0".utf8)
        let namesOffset = bytes.count
        bytes += names
        let textOffset = bytes.count
        bytes += [0xc3, 0xc3, 0xc3, 0xc3]
        while bytes.count % 8 != 0 { bytes.append(0) }
        put(UInt64(bytes.count), at: 40, width: 8, in: &bytes)  // e_shoff
        var table = [UInt8](repeating: 0, count: 3 * 64)
        put(1, at: 64 + 0, width: 4, in: &table); put(3, at: 64 + 4, width: 4, in: &table)       // .shstrtab, SHT_STRTAB
        put(UInt64(namesOffset), at: 64 + 0x18, width: 8, in: &table); put(UInt64(names.count), at: 64 + 0x20, width: 8, in: &table)
        put(1, at: 64 + 0x30, width: 8, in: &table)
        put(11, at: 128 + 0, width: 4, in: &table); put(1, at: 128 + 4, width: 4, in: &table)    // .text, SHT_PROGBITS
        put(6, at: 128 + 8, width: 8, in: &table)                                                  // SHF_ALLOC | SHF_EXECINSTR
        put(UInt64(textOffset), at: 128 + 0x18, width: 8, in: &table); put(4, at: 128 + 0x20, width: 8, in: &table)
        put(4, at: 128 + 0x30, width: 8, in: &table)
        return bytes + table
    }
}

/// A C program built with cc against libbpf and libbtfkit.so, as docs/c-api.md describes.
enum CProgram {
    static let source = #"""
    #include <bpf/libbpf.h>
    #include <stdio.h>
    #include <string.h>
    #include "btfkit.h"

    #ifdef USE_PACK_SYMBOLS
    extern const unsigned char btfkit_pack_start[], btfkit_pack_end[];
    #endif

    /* argv[1]: a CO-RE BPF object. Exit 2: ensure failed; 3: open failed; 4: load failed. */
    int main(int argc, char **argv) {
        LIBBPF_OPTS(bpf_object_open_opts, opts);
    #ifdef USE_PACK_SYMBOLS
        int err = btfkit_ensure_core_btf_from_pack(&opts, btfkit_pack_start, btfkit_pack_end - btfkit_pack_start);
    #else
        int err = btfkit_ensure_core_btf(&opts);
    #endif
        if (err) { fprintf(stderr, "btfkit_ensure_core_btf: %d: %s\n", err, btfkit_last_error()); return 2; }
        printf("btf_custom_path=%s\n", opts.btf_custom_path ? opts.btf_custom_path : "(null)");
        struct bpf_object *obj = bpf_object__open_file(argv[1], &opts);
        if (!obj) { fprintf(stderr, "bpf_object__open_file failed\n"); return 3; }
        err = bpf_object__load(obj);
        printf("load=%d\n", err);
        bpf_object__close(obj);
        btfkit_clean_core_btf(&opts);
        printf("after clean=%s\n", opts.btf_custom_path ? opts.btf_custom_path : "(null)");
        return err ? 4 : 0;
    }
    """#

    /// Compiles the program (plus `extraSources`) and returns the executable's path.
    static func build(name: String, extraSources: [String] = [], defines: [String] = []) throws -> String {
        let library = try PackFixtures.product("libbtfkit.so")
        let libraryDirectory = (library as NSString).deletingLastPathComponent
        let sourcePath = PackFixtures.temporaryPath("\(name).c")
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        let output = PackFixtures.temporaryPath(name)
        let run = try TestSupport.run("cc", defines + [sourcePath] + extraSources + [
            "-I", TestSupport.packageRoot + "/Sources/CBTFKit/include",
            "-L", libraryDirectory, "-lbtfkit", "-lbpf", "-Wl,-rpath," + libraryDirectory, "-o", output])
        guard run.status == 0 else { throw TestSupportError("cc failed: \(run.stderr)") }
        return output
    }

    /// Runs `program` with BTFKIT_FORCE_EMBEDDED=1: it must hand libbpf a memfd path, load
    /// `object` (when root) and clean up.
    static func expectLoads(_ program: String, object: String) throws {
        let run = try PackFixtures.runWithEnvironment(program, [object], ["BTFKIT_FORCE_EMBEDDED": "1"])
        #expect(run.stdout.contains("btf_custom_path=/proc/self/fd/"), "\(program): \(run.stdout) \(run.stderr)")
        #expect(run.stdout.contains("after clean=(null)"), "\(program): \(run.stdout)")
        if TestSupport.isRoot {
            // libbpf relocated execsnoop against the embedded BTF and the kernel verified the result.
            #expect(run.status == 0 && run.stdout.contains("load=0"), "\(program): \(run.stdout) \(run.stderr)")
        }
    }
}
