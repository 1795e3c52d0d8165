import BTF

/// A pack read into memory: which kernels it has and their BTF, hard links resolved.
///
/// Both layouts `PackWriter` writes are understood (`<distro>/<version>/<arch>/<release>.btf` in
/// tar.xz, and bpf-compatible's `./btfhub-archive/<id>/<version_id>/<machine>/<release>.btf` in
/// tar.gz, whose `aarch64` is read as btfhub's `arm64`). Directories and members that are not
/// `.btf` files (bpf-compatible's `package.json`) are passed over.
public struct BTFPack: Sendable {
    /// The largest total a pack may expand to by default: 256 MiB, far more than any trimmed tree.
    public static let defaultMaxExpandedSize = 256 << 20

    /// Where the pack came from, for messages (a path, or a description such as "section .btfkit.pack of /proc/self/exe").
    public let source: String
    /// Every kernel in the pack and the index of its BTF in `contents`.
    public private(set) var entries: [KernelIdentity: Int] = [:]
    /// The distinct BTF files, in the order they appear in the archive.
    public private(set) var contents: [[UInt8]] = []
    /// What the kernels were trimmed for (member `btfkit-trimmed-for.txt`); `nil` when the pack
    /// does not say (packs of earlier BTFKit versions, bpf-compatible's).
    public private(set) var metadata: PackMetadata?

    /// The kernels the pack holds, sorted.
    public var identities: [KernelIdentity] { entries.keys.sorted() }

    /// Reads the whole pack in `bytes`. Refused, with an error naming `source` and the member:
    /// data that is not an xz- or gzip-compressed tar, truncated or damaged archives, absolute or
    /// `..` paths, symbolic links, hard links to nothing earlier in the archive, two members for
    /// one kernel, and packs expanding past `maxExpandedSize` bytes.
    public init(bytes: some Collection<UInt8>, source: String, maxExpandedSize: Int = defaultMaxExpandedSize) throws(PackError) {
        self.source = source
        _ = try scan(bytes, stoppingAt: nil, maxExpandedSize: maxExpandedSize)
    }

    /// Reads the pack file at `path`.
    public init(contentsOf path: String, maxExpandedSize: Int = defaultMaxExpandedSize) throws(PackError) {
        let bytes = try BTFPack.readFile(path)
        try self.init(bytes: bytes, source: path, maxExpandedSize: maxExpandedSize)
    }

    /// The BTF of `identity`, if the pack has it.
    public func btf(for identity: KernelIdentity) -> [UInt8]? {
        entries[identity].map { contents[$0] }
    }

    /// Finds the BTF of one kernel in the pack in `bytes`, reading no further than that kernel's
    /// member; the whole pack is read only when the kernel is missing, to name the nearest entries
    /// in the error (kind `.noEntry`).
    public static func btf(for identity: KernelIdentity, inPack bytes: some Collection<UInt8>, source: String,
                           maxExpandedSize: Int = defaultMaxExpandedSize) throws(PackError) -> [UInt8] {
        var pack = BTFPack(source: source)
        if let found = try pack.scan(bytes, stoppingAt: identity, maxExpandedSize: maxExpandedSize) { return found }
        throw pack.missingEntryError(for: identity)
    }

    /// Reads only what the pack in `bytes` says it was trimmed for: the members before its first
    /// kernel (the record is the first member), so this costs a few kilobytes of decompression.
    public static func metadata(inPack bytes: some Collection<UInt8>, source: String) throws(PackError) -> PackMetadata? {
        var pack = BTFPack(source: source)
        _ = try pack.scan(bytes, stoppingAt: nil, maxExpandedSize: defaultMaxExpandedSize, metadataOnly: true)
        return pack.metadata
    }

    /// The error for a kernel the pack does not hold: the identity, and the entries closest to it.
    public func missingEntryError(for identity: KernelIdentity) -> PackError {
        let nearest = nearestEntries(to: identity)
        var problem = "no BTF for kernel \(identity) (distro \(identity.distro), version \(identity.version), "
            + "arch \(identity.arch), release \(identity.release)) in this pack of \(entries.count) kernels"
        if !nearest.isEmpty {
            problem += "; closest entries: " + nearest.map(\.description).joined(separator: ", ")
        } else {
            let families = Set(entries.keys.map { "\($0.distro)/\($0.version)/\($0.arch)" }).sorted()
            problem += families.isEmpty ? "" : "; it has no \(identity.distro)/\(identity.version)/\(identity.arch) kernel, only "
                + families.prefix(8).joined(separator: ", ") + (families.count > 8 ? ", ..." : "")
        }
        return PackError(.noEntry, problem, file: source)
    }

    /// Up to `limit` entries of the same distro, version and arch, nearest release first: most
    /// leading release components in common, then the smallest numeric gap at the first difference.
    public func nearestEntries(to identity: KernelIdentity, limit: Int = 3) -> [KernelIdentity] {
        BTFPack.nearestEntries(to: identity, among: entries.keys, limit: limit)
    }

    /// `nearestEntries(to:limit:)` over any set of kernels (a btfhub tree's, a pack's).
    public static func nearestEntries(to identity: KernelIdentity, among candidates: some Sequence<KernelIdentity>,
                                      limit: Int = 3) -> [KernelIdentity] {
        let wanted = ReleaseComponents(identity.release)
        return candidates
            .filter { $0.distro == identity.distro && $0.version == identity.version && $0.arch == identity.arch }
            .map { (candidate: $0, closeness: wanted.closeness(to: ReleaseComponents($0.release))) }
            .sorted { ($0.closeness.sharedComponents, -$0.closeness.gap, $1.candidate) > ($1.closeness.sharedComponents, -$1.closeness.gap, $0.candidate) }
            .prefix(limit)
            .map(\.candidate)
    }

    private init(source: String) { self.source = source }

    /// Reads members in order into `entries` and `contents`; with `stoppingAt`, returns that
    /// kernel's BTF as soon as its member is read.
    private mutating func scan(_ bytes: some Collection<UInt8>, stoppingAt wanted: KernelIdentity?,
                               maxExpandedSize: Int, metadataOnly: Bool = false) throws(PackError) -> [UInt8]? {
        if bytes.isEmpty { throw PackError(.corrupt, "empty pack (0 bytes)", file: source) }
        var contentIndexOfPath: [String: Int] = [:]
        var expanded = 0
        var currentMember: String?
        do {
            let reader = try TarReader(bytes: bytes)
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
            defer { chunk.deallocate() }
            while let header = try reader.nextMember() {
                currentMember = header.path
                let path = BTFPack.normalizedPath(header.path)
                if path.isEmpty || header.path.hasPrefix("/") || path.utf8.split(separator: UInt8(ascii: "/")).contains(where: { $0.elementsEqual("..".utf8) }) {
                    throw PackError(.badMember, "unsafe member path refused", file: source, member: header.path)
                }
                let index: Int
                switch header.type {
                case .directory:
                    continue
                case .symbolicLink, .special:
                    throw PackError(.badMember, "a pack holds only regular files and hard links", file: source, member: header.path)
                case .hardLink:
                    if metadataOnly { return nil }
                    let target = BTFPack.normalizedPath(header.linkTarget ?? "")
                    guard let targetIndex = contentIndexOfPath[target] else {
                        throw PackError(.badMember, "hard link to \(header.linkTarget ?? "nothing"), which is not an earlier .btf member",
                                        file: source, member: header.path)
                    }
                    index = targetIndex
                case .regularFile:
                    if path == PackMetadata.memberName {
                        guard let size = header.declaredSize, size <= PackMetadata.maxSize else {
                            throw PackError(.tooLarge, "larger than \(PackMetadata.maxSize) bytes", file: source, member: header.path)
                        }
                        var data: [UInt8] = []
                        while true {
                            let n = try reader.read(into: chunk)
                            if n == 0 { break }
                            data.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0 ..< n]))
                            if data.count > PackMetadata.maxSize { break }
                        }
                        metadata = try PackMetadata(parsing: data, source: source)
                        continue
                    }
                    guard path.hasSuffix(".btf") else { continue }  // the reader skips the data
                    if metadataOnly { return nil }
                    var data: [UInt8] = []
                    if let size = header.declaredSize {
                        guard size >= 0, size <= maxExpandedSize - expanded else {
                            throw PackError(.tooLarge, "the pack expands past the limit of \(maxExpandedSize) bytes", file: source, member: header.path)
                        }
                        data.reserveCapacity(Int(size))
                    }
                    while true {
                        let n = try reader.read(into: chunk)
                        if n == 0 { break }
                        expanded += n
                        if expanded > maxExpandedSize {
                            throw PackError(.tooLarge, "the pack expands past the limit of \(maxExpandedSize) bytes", file: source, member: header.path)
                        }
                        data.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0 ..< n]))
                    }
                    index = contents.count
                    contents.append(data)
                }
                guard let (found, _) = KernelEntry.identity(ofPath: path), path.utf8.split(separator: UInt8(ascii: "/")).count == 4 else {
                    if header.type == .hardLink { continue }  // a link to a .btf under a name that is no kernel
                    throw PackError(.badMember, "not a <distro>/<version>/<arch>/<release>.btf path", file: source, member: header.path)
                }
                contentIndexOfPath[path] = index
                let identity = KernelIdentity(distro: found.distro, version: found.version,
                                              arch: KernelIdentity.btfhubArch(forMachine: found.arch), release: found.release)
                guard entries.updateValue(index, forKey: identity) == nil else {
                    throw PackError(.badMember, "a second member for kernel \(identity)", file: source, member: header.path)
                }
                if identity == wanted { return contents[index] }
            }
        } catch let error as PackError {
            throw error
        } catch let failure as TarFailure {
            let what = failure.isTruncation ? "truncated pack" : "corrupt pack, or not an xz- or gzip-compressed tar"
            throw PackError(.corrupt, "\(what): \(failure.message)", file: source, member: currentMember)
        } catch {
            throw PackError(.corrupt, "\(error)", file: source, member: currentMember)
        }
        return nil
    }

    /// A member path without bpf-compatible's `./btfhub-archive/` (or a bare `./`) in front.
    static func normalizedPath(_ path: String) -> String {
        var result = Substring(path)
        while result.hasPrefix("./") { result = result.dropFirst(2) }
        if result.hasPrefix("btfhub-archive/") { result = result.dropFirst("btfhub-archive/".count) }
        return String(result)
    }

    /// The bytes of the pack file at `path` (at most `defaultMaxExpandedSize`).
    public static func readFile(_ path: String) throws(PackError) -> [UInt8] {
        do { return try FileIO.read(path, limit: defaultMaxExpandedSize) } catch {
            throw PackError(.unreadable, error.problem, file: path)
        }
    }
}

/// A kernel release split into numbers and the text between them: `4.18.0-147.el8.x86_64` is
/// 4, ".", 18, ".", 0, "-", 147, ".el", 8, ".x", 86, "_", 64.
struct ReleaseComponents {
    enum Component: Equatable {
        case number(UInt64)
        case text(Substring)
    }

    var components: [Component] = []

    init(_ release: String) {
        var rest = Substring(release)
        while let first = rest.first {
            let isDigit = first.isASCII && first.isNumber
            let run = rest.prefix { ($0.isASCII && $0.isNumber) == isDigit }
            components.append(isDigit ? .number(UInt64(run.prefix(18)) ?? .max) : .text(run))
            rest = rest.dropFirst(run.count)
        }
    }

    /// How many leading components two releases share, and how far apart the first differing
    /// numbers are (`UInt64.max` when the first difference is not between two numbers).
    func closeness(to other: ReleaseComponents) -> (sharedComponents: Int, gap: Double) {
        var shared = 0
        while shared < components.count, shared < other.components.count, components[shared] == other.components[shared] {
            shared += 1
        }
        guard shared < components.count, shared < other.components.count else { return (shared, 0) }
        if case .number(let a) = components[shared], case .number(let b) = other.components[shared] {
            return (shared, Double(a > b ? a - b : b - a))
        }
        return (shared, Double(UInt64.max))
    }
}
