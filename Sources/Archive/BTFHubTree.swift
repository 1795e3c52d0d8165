import BTF
import Glibc

/// One kernel's BTF file found in a btfhub tree.
public struct KernelEntry: Sendable, Hashable {
    /// How the kernel's BTF is stored.
    public enum Format: Sendable, Hashable {
        /// `<release>.btf.tar.xz`: btfhub's published form.
        case compressedArchive
        /// `<release>.btf`: raw BTF, as in an extracted or trimmed tree.
        case rawBTF
    }

    public var identity: KernelIdentity
    /// The file's path: the tree root joined with `relativePath`.
    public var inputPath: String
    /// The file's path relative to the tree root, as found.
    public var relativePath: String
    public var format: Format

    public var distro: String { identity.distro }
    public var version: String { identity.version }
    public var arch: String { identity.arch }
    public var release: String { identity.release }

    public init(identity: KernelIdentity, inputPath: String, relativePath: String, format: Format) {
        self.identity = identity
        self.inputPath = inputPath
        self.relativePath = relativePath
        self.format = format
    }

    /// The raw BTF bytes: decompressed in memory for an archive, read as is for a `.btf` file.
    /// Either way at most `maxSize` bytes are accepted. With a `cache`, an archive's BTF comes from
    /// it when it holds the archive's content, and is stored in it otherwise.
    public func readBTFBytes(maxSize: Int = KernelArchive.defaultMaxDecompressedSize,
                             cache: KernelCache? = nil) throws(ArchiveError) -> [UInt8] {
        switch format {
        case .compressedArchive:
            if let cache { return try cache.readBTF(fromArchive: inputPath, maxDecompressedSize: maxSize) }
            return try KernelArchive.readBTF(fromArchive: inputPath, maxDecompressedSize: maxSize).bytes
        case .rawBTF:
            var status = stat()
            if stat(inputPath, &status) == 0, Int(status.st_size) > maxSize {
                throw ArchiveError(.tooLarge, "\(status.st_size) bytes, more than the limit of \(maxSize) bytes", file: inputPath)
            }
            do { return try FileIO.read(inputPath, limit: maxSize) } catch {
                throw ArchiveError(.unreadable, error.problem, file: inputPath)
            }
        }
    }

    /// Lends `body` the raw BTF bytes, as `readBTFBytes` reads them, valid only during the call:
    /// a cache hit is the cache entry's mapping, not a copy (see `KernelCache.withBTF`).
    public func withBTFBytes<Result>(maxSize: Int = KernelArchive.defaultMaxDecompressedSize, cache: KernelCache? = nil,
                                     _ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result {
        if format == .compressedArchive, let cache {
            return try cache.withBTF(fromArchive: inputPath, maxDecompressedSize: maxSize, body)
        }
        return try readBTFBytes(maxSize: maxSize).withUnsafeBytes(body)
    }

    /// Architecture directory names a btfhub tree may use (btfhub has `x86_64` and `arm64`; the rest
    /// are Linux `uname -m` names). A `.btf` file whose third directory up is none of these is not
    /// taken for a kernel: it is a stray file, not `<distro>/<version>/<arch>/<release>.btf`.
    public static let knownArchitectures: Set<String> = [
        "x86_64", "arm64", "aarch64", "s390x", "ppc64le", "ppc64", "riscv64", "loongarch64", "i386", "i686", "armhf", "arm",
    ]

    /// The kernel a file at `path` describes, if `path` ends in `<distro>/<version>/<arch>/<release>.btf[.tar.xz]`.
    public static func identity(ofPath path: String) -> (KernelIdentity, Format)? {
        // Split as bytes (a pack lookup does this for every member); only the last four parts matter.
        let parts = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
        guard parts.count >= 4 else { return nil }
        let components = parts.suffix(4).map { String(decoding: $0, as: UTF8.self) }
        let fileName = components[3]
        let release: Substring
        let format: Format
        if fileName.hasSuffix(".btf.tar.xz") {
            release = fileName.dropLast(".btf.tar.xz".count)
            format = .compressedArchive
        } else if fileName.hasSuffix(".btf") {
            release = fileName.dropLast(".btf".count)
            format = .rawBTF
        } else {
            return nil
        }
        let dirs = Array(components.prefix(3))
        guard !release.isEmpty, !release.hasPrefix("."), !dirs.contains(where: { $0 == "." || $0 == ".." }),
              knownArchitectures.contains(dirs[2]) else { return nil }
        return (KernelIdentity(distro: dirs[0], version: dirs[1], arch: dirs[2], release: String(release)), format)
    }
}

/// An entry of a btfhub tree that may hold kernels but cannot be used.
public struct UnusableEntry: Sendable, Hashable {
    /// The entry's path (the tree root joined with its relative path), control characters and bytes
    /// that are not UTF-8 escaped as `\xNN`.
    public var path: String
    /// Why it cannot be used.
    public var reason: String
}

/// The kernels of a btfhub tree: every `<distro>/<version>/<arch>/<release>.btf.tar.xz` or `.btf`
/// below a root that may be the tree's top or any directory inside it (a distro, a version, an arch).
/// The identity comes from the last three directories of each file's real path; the third must be a
/// known architecture name (`KernelEntry.knownArchitectures`).
public struct BTFHubTree: Sendable {
    /// The directory scanned, as given.
    public var root: String
    /// The kernels found, sorted by relative path.
    public var kernels: [KernelEntry]
    /// Relative paths of files that are not kernel BTF (licences, notes, btfhub's release-name files ...).
    public var skippedFiles: [String]
    /// Relative paths of directory symlinks, which are not followed (they could loop or duplicate kernels).
    public var skippedDirectoryLinks: [String]
    /// Kernels found but left out by the architecture filter.
    public var filteredOutCount: Int
    /// Entries that may hold kernels but cannot be used, with the reason: a name that is not UTF-8,
    /// a path too long for the system, a directory that cannot be listed, a file symlink pointing
    /// out of the tree. Reported, never dropped silently; a sweep fails each like an unreadable kernel.
    public var unusable: [UnusableEntry]
    /// Files describing a kernel already listed (e.g. both `K.btf` and `K.btf.tar.xz`); the first one
    /// found is kept in `kernels`, these are not processed.
    public var duplicates: [KernelEntry]

    /// Walks `root`. `arch` keeps only kernels of that btfhub architecture (`x86_64`, `arm64`); an
    /// `aarch64` filter means `arm64`. Directories in `excluding` (e.g. the output tree, when it lies
    /// inside the input) are not entered.
    public init(scanning root: String, arch: String? = nil, excluding: [String] = []) throws(ArchiveError) {
        var trimmedRoot = root
        while trimmedRoot.count > 1 && trimmedRoot.hasSuffix("/") { trimmedRoot.removeLast() }
        self.root = trimmedRoot
        kernels = []
        skippedFiles = []
        skippedDirectoryLinks = []
        unusable = []
        filteredOutCount = 0
        duplicates = []
        guard let realRoot = FileIO.realPath(root) else {
            throw ArchiveError(.unreadable, "cannot open the input directory: \(errnoText())", file: root)
        }
        let excluded = Set(excluding.compactMap(FileIO.realPath))
        let wantedArch = arch.map(KernelIdentity.btfhubArch(forMachine:))
        var found: [KernelEntry] = []
        try walk(realDirectory: realRoot, relative: "", realRoot: realRoot, excluded: excluded, found: &found)
        var seen: Set<KernelIdentity> = []
        for entry in found {
            if let wantedArch, entry.arch != wantedArch {
                filteredOutCount += 1
            } else if !seen.insert(entry.identity).inserted {
                duplicates.append(entry)
            } else {
                kernels.append(entry)
            }
        }
    }

    private mutating func walk(realDirectory: String, relative: String, realRoot: String, excluded: Set<String>,
                               found: inout [KernelEntry]) throws(ArchiveError) {
        let displayDirectory = relative.isEmpty ? root : BTFHubTree.join(root, relative)
        guard let dir = opendir(realDirectory) else {
            // The root must be readable; a subdirectory that is not fails alone.
            if relative.isEmpty { throw ArchiveError(.unreadable, "cannot list directory: \(errnoText())", file: displayDirectory) }
            unusable.append(UnusableEntry(path: displayDirectory, reason: "cannot list directory: \(errnoText()); its kernels are not processed"))
            return
        }
        var names: [String] = []
        while let entry = readdir(dir) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
            guard let name = String(validating: bytes, as: UTF8.self) else {
                // Paths are Strings here; a name that is not UTF-8 cannot be named in an output, so it is reported.
                let shown = BTFHubTree.join(displayDirectory, escapedForTerminal(bytes: bytes))
                let isDirectory = entry.pointee.d_type == UInt8(DT_DIR)
                if isDirectory || BTFHubTree.looksLikeKernel(bytes) {
                    unusable.append(UnusableEntry(path: shown, reason: "the name is not valid UTF-8; rename it to process it"))
                } else {
                    skippedFiles.append(BTFHubTree.join(relative, escapedForTerminal(bytes: bytes)))
                }
                continue
            }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(dir)
        // Sorted so that the order of kernels, and which of two duplicates wins, never depends on the file system.
        for name in names.sorted() {
            let real = realDirectory == "/" ? "/" + name : realDirectory + "/" + name
            let rel = relative.isEmpty ? name : relative + "/" + name
            var link = stat()
            guard lstat(real, &link) == 0 else {
                if errno != ENOENT {  // ENOENT: vanished since readdir
                    unusable.append(UnusableEntry(path: BTFHubTree.join(root, rel), reason: "cannot stat: \(errnoText())"))
                }
                continue
            }
            var target = link
            let isLink = (link.st_mode & S_IFMT) == S_IFLNK
            if isLink && stat(real, &target) != 0 { skippedFiles.append(rel); continue }  // dangling link
            switch target.st_mode & S_IFMT {
            case S_IFDIR:
                if isLink { skippedDirectoryLinks.append(rel); continue }
                if excluded.contains(real) { continue }
                try walk(realDirectory: real, relative: rel, realRoot: realRoot, excluded: excluded, found: &found)
            case S_IFREG:
                // The identity is read from the real path, so a root deep inside the tree still knows its distro.
                if let (identity, format) = KernelEntry.identity(ofPath: real) {
                    // A file symlink is followed only inside the tree: one to /etc/shadow is not packed.
                    if isLink, let resolved = FileIO.realPath(real), !BTFHubTree.isInside(resolved, realRoot) {
                        unusable.append(UnusableEntry(path: BTFHubTree.join(root, rel),
                                                      reason: "a symbolic link to \(resolved), outside the tree; not followed"))
                        continue
                    }
                    found.append(KernelEntry(identity: identity, inputPath: BTFHubTree.join(root, rel), relativePath: rel, format: format))
                } else {
                    skippedFiles.append(rel)
                }
            default:
                skippedFiles.append(rel)
            }
        }
    }

    /// Whether a file name ends like a kernel file (`.btf`, `.btf.tar.xz`).
    static func looksLikeKernel(_ name: [UInt8]) -> Bool {
        name.count > 4 && (name.suffix(4).elementsEqual(".btf".utf8) || name.suffix(11).elementsEqual(".btf.tar.xz".utf8))
    }

    /// Whether the real path `path` lies inside the real directory `root`.
    static func isInside(_ path: String, _ root: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root + "/")
    }

    /// `directory/name`, with one slash between them.
    public static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
