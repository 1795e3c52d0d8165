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
public enum PackWriter {
    /// The largest raw BTF file accepted from a tree: 64 MiB, more than any untrimmed btfhub kernel.
    public static let maxInputFileSize = 64 << 20

    /// Packs every kernel of the btfhub tree at `directory` (raw `.btf`, or `.btf.tar.xz` files),
    /// with the record `btf-trim` left at its top of what they were trimmed for; a tree without one
    /// whose kernels are all whole (each at least `wholeKernelMinimumSize`) is recorded as whole BTF.
    public static func pack(directory: String, format: PackFormat = .tarXZ) throws(PackError) -> PackedArchive {
        var metadata = try PackMetadata.read(treeAt: directory)
        let tree: BTFHubTree
        do { tree = try BTFHubTree(scanning: directory) } catch {
            throw PackError(.unreadable, error.problem, file: error.file)
        }
        guard !tree.kernels.isEmpty || !tree.unusable.isEmpty else {
            throw PackError(.noKernels, "no <distro>/<version>/<arch>/<release>.btf file below this directory", file: directory)
        }
        let kernels = try Self.inputs(of: tree)
        if metadata == nil && kernels.allSatisfy({ $0.btf.count >= wholeKernelMinimumSize }) { metadata = .fullBTF }
        return try pack(kernels, format: format, metadata: metadata)
    }

    /// Every kernel of `tree`, read and checked: a pack holds only what the tree holds as BTF. Refused,
    /// naming the file: an entry the walk could not use (a symlink out of the tree, a name that is not
    /// UTF-8, an unreadable directory), a file over `maxInputFileSize`, one that does not parse as BTF
    /// (garbage, empty).
    public static func inputs(of tree: BTFHubTree) throws(PackError) -> [PackInput] {
        if let entry = tree.unusable.first {
            throw PackError(.unreadable, entry.reason + (tree.unusable.count > 1 ? " (and \(tree.unusable.count - 1) more such entries)" : ""),
                            file: entry.path)
        }
        var inputs: [PackInput] = []
        for kernel in tree.kernels {
            let bytes: [UInt8]
            do { bytes = try kernel.readBTFBytes(maxSize: maxInputFileSize) } catch {
                throw PackError(error.kind == .tooLarge ? .tooLarge : .unreadable, error.problem, file: error.file, member: error.member)
            }
            do { _ = try BTF(parsing: bytes, file: kernel.inputPath) } catch {
                throw PackError(.unreadable, "not BTF, so not packed: \(error.problem)", file: kernel.inputPath)
            }
            inputs.append(PackInput(identity: kernel.identity, btf: bytes))
        }
        return inputs
    }

    /// The smallest raw BTF counted as a whole kernel's: no trimmed kernel comes near 1 MiB, no
    /// whole one is below it.
    public static let wholeKernelMinimumSize = 1 << 20

    /// Packs `inputs`. The result depends only on the identities and bytes given, not on their
    /// order: members are sorted by path, owned by root:root, mode 0644, dated 1970-01-01.
    /// `metadata`, when given, is the first member (`PackMetadata.memberName`).
    public static func pack(_ inputs: [PackInput], format: PackFormat = .tarXZ, metadata: PackMetadata? = nil) throws(PackError) -> PackedArchive {
        var seenPaths: Set<String> = []
        let members = inputs.map { (path: memberPath(for: $0.identity, format: format), btf: $0.btf) }
            .sorted { $0.path < $1.path }
        var firstPathOfContent: [[UInt8]: String] = [:]
        var rawBytes = 0
        let tar: [UInt8]
        do {
            let writer = try TarArchiveWriter(compression: format == .tarGz ? .gzip(level: 9) : .none)
            // First, so that a reader looking for one kernel has it before any BTF.
            if let metadata { try writer.addFile(path: PackMetadata.memberName, contents: Array(metadata.text.utf8)) }
            for member in members {
                guard seenPaths.insert(member.path).inserted else {
                    throw PackError(.badMember, "two inputs for the same kernel", file: "(pack)", member: member.path)
                }
                rawBytes += member.btf.count
                if format == .tarXZ, let first = firstPathOfContent[member.btf] {
                    try writer.addHardLink(path: member.path, target: first)
                } else {
                    if firstPathOfContent[member.btf] == nil { firstPathOfContent[member.btf] = member.path }
                    try writer.addFile(path: member.path, contents: member.btf)
                }
            }
            tar = try writer.finish()
        } catch let error as PackError {
            throw error
        } catch let failure as TarFailure {
            throw PackError(.compression, "tar: \(failure.message)", file: "(pack)")
        } catch {
            throw PackError(.compression, "\(error)", file: "(pack)")
        }
        let packed = format == .tarXZ ? try PackXZ.compress(tar) : tar
        let summary = PackSummary(entries: members.count, uniqueContents: firstPathOfContent.count, rawBytes: rawBytes,
                                  packedBytes: packed.count)
        return PackedArchive(bytes: packed, summary: summary, metadata: metadata)
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
