import BTF

/// How a pack is laid out and compressed.
public enum PackFormat: String, Sendable, CaseIterable {
    /// BTFKit's pack: `<distro>/<version>/<arch>/<release>.btf` members in a tar, xz -9e; a file
    /// identical to an earlier one is stored as a tar hard link to it.
    case tarXZ = "tar.xz"
    /// bpf-compatible's layout, `./btfhub-archive/<id>/<version_id>/<machine>/<release>.btf`, gzip -9,
    /// every file stored whole: bpf-compatible's runtime copies a member's own data and would read
    /// a hard link as an empty file. `<machine>` is `uname -m`, so btfhub's `arm64` is written `aarch64`.
    case tarGz = "tar.gz"
}

/// One kernel's BTF going into a pack.
public struct PackInput: Sendable {
    /// The kernel, which gives the member's path.
    public var identity: KernelIdentity
    /// Its (trimmed) raw BTF, stored as is.
    public var btf: [UInt8]

    /// One kernel's BTF.
    public init(identity: KernelIdentity, btf: [UInt8]) {
        self.identity = identity
        self.btf = btf
    }
}

/// Where one kernel's BTF comes from while a pack is written: bytes already in memory, or a
/// kernel file read when its turn comes, so that a pack of thousands of kernels holds one at a time.
public struct PackKernelSource: Sendable {
    /// The kernel, which gives the member's path.
    public var identity: KernelIdentity
    private var content: Content

    private enum Content: Sendable {
        case bytes([UInt8])
        case kernel(KernelEntry)
    }

    /// BTF in memory, stored as is.
    public init(_ input: PackInput) {
        identity = input.identity
        content = .bytes(input.btf)
    }

    /// A kernel of a btfhub tree (raw `.btf`, or `.btf.tar.xz`), read when packed: refused, naming
    /// the file, when over `PackWriter.maxInputFileSize` or not BTF (garbage, empty).
    public init(kernel: KernelEntry) {
        identity = kernel.identity
        content = .kernel(kernel)
    }

    /// The raw BTF file at `path` (a trimmed kernel), read when packed, as `identity`.
    public init(identity: KernelIdentity, file path: String) {
        self.init(kernel: KernelEntry(identity: identity, inputPath: path, relativePath: identity.btfRelativePath, format: .rawBTF))
    }

    /// The file named in errors about this source.
    var origin: String {
        switch content {
        case .bytes: "(pack)"
        case .kernel(let kernel): kernel.inputPath
        }
    }

    /// The BTF bytes; a kernel file is read (and, `checkingBTF`, parsed) now.
    func read(checkingBTF: Bool) throws(PackError) -> [UInt8] {
        switch content {
        case .bytes(let bytes):
            return bytes
        case .kernel(let kernel):
            let bytes: [UInt8]
            do { bytes = try kernel.readBTFBytes(maxSize: PackWriter.maxInputFileSize) } catch {
                throw PackError(error.kind == .tooLarge ? .tooLarge : .unreadable, error.problem, file: error.file, member: error.member)
            }
            if checkingBTF {
                do { _ = try BTF(parsing: bytes, file: kernel.inputPath) } catch {
                    throw PackError(.unreadable, "not BTF, so not packed: \(error.problem)", file: kernel.inputPath)
                }
            }
            return bytes
        }
    }
}

/// What went into a pack and what came out.
public struct PackSummary: Sendable, Equatable {
    /// Kernels (tar members holding or linking to BTF).
    public var entries: Int
    /// Distinct BTF contents among them.
    public var uniqueContents: Int
    /// The sum of all kernels' BTF sizes, duplicates counted each time.
    public var rawBytes: Int
    /// The compressed pack.
    public var packedBytes: Int
}

/// A pack in memory: the archive's bytes and its summary.
public struct PackedArchive: Sendable {
    /// The archive, ready to write or embed.
    public var bytes: [UInt8]
    /// Counts and sizes.
    public var summary: PackSummary
    /// What the kernels were trimmed for, stored as the pack's first member; `nil`: not recorded.
    public var metadata: PackMetadata?
}

/// Builds packs: deterministic tar archives of trimmed kernel BTF in btfhub layout.
///
/// A pack is written in two passes over its kernels, in member order, holding one kernel's BTF at
/// a time: the first reads each, checks it, and takes its SHA-256 (a kernel whose digest an
/// earlier one has becomes a hard link to it in tar.xz); the second reads each stored kernel again
/// (its digest checked: a file changed in between is refused, not packed with other bytes than
/// the first pass saw) and streams it through the compression into memory or the output file.
/// The first pass gives the tar's exact size, which xz's dictionary is sized from, before the
/// first byte is compressed. What stays in memory is under a kilobyte per kernel (its tree entry,
/// member path and digest), plus the compressor (xz: about 12 times its dictionary).
public enum PackWriter {
    /// The largest raw BTF file accepted from a tree: 64 MiB, more than any untrimmed btfhub kernel.
    public static let maxInputFileSize = 64 << 20

    /// Packs every kernel of the btfhub tree at `directory` (raw `.btf`, or `.btf.tar.xz` files)
    /// into the file `output` (replaced atomically; nothing is left behind on failure), with the
    /// record `btf-trim` left at its top of what they were trimmed for; a tree without one whose
    /// kernels are all whole (each at least `wholeKernelMinimumSize`) is recorded as whole BTF.
    public static func write(directory: String, format: PackFormat = .tarXZ, to output: String) throws(PackError) -> PackSummary {
        let metadata = try PackMetadata.read(treeAt: directory)
        let tree: BTFHubTree
        do { tree = try BTFHubTree(scanning: directory) } catch {
            throw PackError(.unreadable, error.problem, file: error.file)
        }
        guard !tree.kernels.isEmpty || !tree.unusable.isEmpty else {
            throw PackError(.noKernels, "no <distro>/<version>/<arch>/<release>.btf file below this directory", file: directory)
        }
        let plan = try Plan(try sources(of: tree), format: format)
        let recorded = metadata ?? (plan.allWhole ? PackMetadata.fullBTF : nil)
        return try write(plan, metadata: recorded, to: output)
    }

    /// Every kernel of `tree`, to be read when packed. Refused, naming the entry: one the walk
    /// could not use (a symlink out of the tree, a name that is not UTF-8, an unreadable directory).
    /// A file over `maxInputFileSize` or not BTF is refused when the pack reads it.
    public static func sources(of tree: BTFHubTree) throws(PackError) -> [PackKernelSource] {
        if let entry = tree.unusable.first {
            throw PackError(.unreadable, entry.reason + (tree.unusable.count > 1 ? " (and \(tree.unusable.count - 1) more such entries)" : ""),
                            file: entry.path)
        }
        return tree.kernels.map(PackKernelSource.init(kernel:))
    }

    /// The smallest raw BTF counted as a whole kernel's: no trimmed kernel comes near 1 MiB, no
    /// whole one is below it.
    public static let wholeKernelMinimumSize = 1 << 20

    /// Packs `inputs` in memory. The result depends only on the identities and bytes given, not on
    /// their order: members are sorted by path, owned by root:root, mode 0644, dated 1970-01-01.
    /// `metadata`, when given, is the first member (`PackMetadata.memberName`).
    public static func pack(_ inputs: [PackInput], format: PackFormat = .tarXZ, metadata: PackMetadata? = nil) throws(PackError) -> PackedArchive {
        try pack(inputs.map(PackKernelSource.init), format: format, metadata: metadata)
    }

    /// Packs `sources` in memory, reading each when its turn comes: the pack (a few KB to MB) is
    /// held, the kernels are not. The same bytes as `pack(_:)` of the same kernels.
    public static func pack(_ sources: [PackKernelSource], format: PackFormat = .tarXZ, metadata: PackMetadata? = nil) throws(PackError) -> PackedArchive {
        let plan = try Plan(sources, format: format)
        let sink = PackSink()
        let summary = try emit(plan, metadata: metadata, into: sink)
        return PackedArchive(bytes: sink.bytes, summary: summary, metadata: metadata)
    }

    /// Packs `sources` into the file `output` (replaced atomically; nothing is left behind on
    /// failure or interruption), reading each kernel when its turn comes. The same bytes as `pack`.
    public static func write(_ sources: [PackKernelSource], format: PackFormat = .tarXZ, metadata: PackMetadata? = nil,
                             to output: String) throws(PackError) -> PackSummary {
        try write(try Plan(sources, format: format), metadata: metadata, to: output)
    }

    private static func write(_ plan: Plan, metadata: PackMetadata?, to output: String) throws(PackError) -> PackSummary {
        let file: FileIO.AtomicFile
        do { file = try FileIO.AtomicFile(replacing: output) } catch { throw PackError(.unreadable, error.problem, file: output) }
        defer { file.discard() }  // after a commit, does nothing
        let summary = try emit(plan, metadata: metadata, into: PackSink(file: file))
        do { try file.commit() } catch { throw PackError(.unreadable, error.problem, file: output) }
        return summary
    }

    /// The first pass: every member's path, size and digest, and whether it is stored or a link.
    struct Plan {
        struct Member {
            var path: String
            var source: PackKernelSource
            var size: Int
            /// The earlier member with the same contents, for a hard link (tar.xz only).
            var linkTarget: String?
            /// SHA-256 of the contents, checked again when a stored member is read a second time.
            var digest: String
        }

        let format: PackFormat
        /// In member order (sorted by path).
        let members: [Member]
        let uniqueContents: Int
        let rawBytes: Int
        /// Every kernel at least `wholeKernelMinimumSize`: whole BTF, not trimmed.
        let allWhole: Bool

        init(_ sources: [PackKernelSource], format: PackFormat) throws(PackError) {
            self.format = format
            let sorted = sources.map { (path: PackWriter.memberPath(for: $0.identity, format: format), source: $0) }
                .sorted { $0.path < $1.path }
            // Refused before anything is read.
            for (earlier, later) in zip(sorted, sorted.dropFirst()) where earlier.path == later.path {
                throw PackError(.badMember, "two inputs for the same kernel", file: "(pack)", member: later.path)
            }
            var firstPathOfContent: [String: String] = [:]
            var members: [Member] = []
            members.reserveCapacity(sorted.count)
            var rawBytes = 0
            var allWhole = true
            for (path, source) in sorted {
                let bytes = try source.read(checkingBTF: true)
                // A content hash stands for the bytes, as the kernel cache's keys do: a SHA-256
                // collision between two kernels' BTF is not a practical concern.
                let digest = SHA256.hex(bytes)
                var linkTarget: String?
                if let first = firstPathOfContent[digest] {
                    if format == .tarXZ { linkTarget = first }
                } else {
                    firstPathOfContent[digest] = path
                }
                members.append(Member(path: path, source: source, size: bytes.count, linkTarget: linkTarget, digest: digest))
                rawBytes += bytes.count
                allWhole = allWhole && bytes.count >= PackWriter.wholeKernelMinimumSize
            }
            self.members = members
            self.uniqueContents = firstPathOfContent.count
            self.rawBytes = rawBytes
            self.allWhole = allWhole
        }
    }

    /// The second pass: the tar, streamed through the compression into `sink`.
    private static func emit(_ plan: Plan, metadata: PackMetadata?, into sink: PackSink) throws(PackError) -> PackSummary {
        let metadataMember = metadata.map { (path: PackMetadata.memberName, bytes: Array($0.text.utf8)) }
        let compression: TarWriterCompression
        switch plan.format {
        case .tarGz:
            compression = .gzip(level: 9)
        case .tarXZ:
            var layout: [(path: String, link: String?, size: Int)] = []
            if let metadataMember { layout.append((metadataMember.path, nil, metadataMember.bytes.count)) }
            layout += plan.members.map { ($0.path, $0.linkTarget, $0.size) }
            compression = .xz(tarSize: TarArchiveWriter.size(of: layout))
        }
        let writer = try TarArchiveWriter(compression: compression, into: sink)
        // First, so that a reader looking for one kernel has it before any BTF.
        if let metadataMember { try writer.addFile(path: metadataMember.path, contents: metadataMember.bytes) }
        for member in plan.members {
            if let target = member.linkTarget {
                try writer.addHardLink(path: member.path, target: target)
                continue
            }
            let bytes = try member.source.read(checkingBTF: false)
            guard bytes.count == member.size, SHA256.hex(bytes) == member.digest else {
                throw PackError(.unreadable, "changed while it was being packed; pack it again", file: member.source.origin)
            }
            try writer.addFile(path: member.path, contents: bytes)
        }
        try writer.finish()
        return PackSummary(entries: plan.members.count, uniqueContents: plan.uniqueContents, rawBytes: plan.rawBytes,
                           packedBytes: sink.count)
    }

    /// The tar member path of a kernel in `format`.
    public static func memberPath(for identity: KernelIdentity, format: PackFormat) -> String {
        switch format {
        case .tarXZ:
            return identity.btfRelativePath
        case .tarGz:
            let machine = identity.arch == "arm64" ? "aarch64" : identity.arch
            return "./btfhub-archive/\(identity.distro)/\(identity.version)/\(machine)/\(identity.release).btf"
        }
    }
}
