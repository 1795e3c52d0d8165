import BTF
import Glibc

/// The raw BTF of one kernel, read out of a btfhub `.btf.tar.xz`.
public struct ExtractedBTF: Sendable {
    /// The member's path inside the archive (e.g. `4.18.0-147.el8.x86_64.btf`).
    public var memberPath: String
    /// The member's bytes: a raw BTF blob, not yet parsed.
    public var bytes: [UInt8]
}

/// The `.btf` member of a kernel's archive, its sections already read out (`KernelArchive.readBTFBlob`).
public struct ExtractedBTFBlob: Sendable {
    public var memberPath: String
    public var contents: BTF.StreamedBlob
}

/// Reading btfhub's per-kernel archives (`<release>.btf.tar.xz`: one `.btf` member in a tar in xz)
/// in memory, as a stream, without temporary files.
public enum KernelArchive {
    /// The default cap on how much an archive may expand to: 512 MiB, over ten times the largest
    /// btfhub kernel BTF, yet small enough that a decompression bomb cannot exhaust memory.
    public static let defaultMaxDecompressedSize = 512 << 20

    /// Reads the single `.btf` member of the `.btf.tar.xz` at `path`.
    ///
    /// The whole archive is read, so that a second `.btf` member or damage after the first one is
    /// noticed. Refused, with an error naming the file and the member: members with an absolute path
    /// or `..`, symbolic and hard links, a `.btf` member that is not a regular file, archives with no
    /// or several `.btf` members, and archives whose members add up to more than
    /// `maxDecompressedSize` bytes (checked against tar headers before decompressing, and again while
    /// reading).
    public static func readBTF(fromArchive path: String,
                               maxDecompressedSize: Int = defaultMaxDecompressedSize) throws(ArchiveError) -> ExtractedBTF {
        let (memberPath, contents) = try extract(path, maxDecompressedSize: maxDecompressedSize, streamingSections: false)
        guard case .bytes(let bytes) = contents else { preconditionFailure("sections are only streamed when asked for") }
        return ExtractedBTF(memberPath: memberPath, bytes: bytes)
    }

    /// Reads the `.btf` member as `readBTF` does, with the same checks, but decompresses its type and
    /// string sections straight into the arrays a `BTF` keeps (`BTF.readBlob`): no buffer of the
    /// whole member and no copy of it. A member that is not raw BTF in file order comes as bytes.
    /// Errors of the BTF itself are left to `BTF(sections:)`, after the whole archive was checked.
    public static func readBTFBlob(fromArchive path: String,
                                   maxDecompressedSize: Int = defaultMaxDecompressedSize) throws(ArchiveError) -> ExtractedBTFBlob {
        let (memberPath, contents) = try extract(path, maxDecompressedSize: maxDecompressedSize, streamingSections: true)
        return ExtractedBTFBlob(memberPath: memberPath, contents: contents)
    }

    private static func extract(_ path: String, maxDecompressedSize: Int,
                                streamingSections: Bool) throws(ArchiveError) -> (memberPath: String, contents: BTF.StreamedBlob) {
        // A regular file only: a FIFO or device would block or never end.
        let fd: Int32
        let status: stat
        do { (fd, status) = try FileIO.openRegularFile(path) } catch {
            throw ArchiveError(.unreadable, error.problem, file: path)
        }
        defer { close(fd) }
        if status.st_size == 0 { throw ArchiveError(.emptyFile, "empty file (0 bytes), not an xz archive", file: path) }

        var extractor = BTFMemberExtractor(archivePath: path, maxDecompressedSize: maxDecompressedSize,
                                           streamingSections: streamingSections)
        do {
            try extractor.run(TarReader(fileDescriptor: fd))
        } catch let failure as TarFailure {
            throw extractor.error(for: failure)
        } catch let error as ArchiveError {
            throw error
        } catch {
            throw ArchiveError(.corrupt, "\(error)", file: path)
        }
        guard let found = extractor.found else {
            let seen = extractor.memberPaths.isEmpty ? "the archive is empty"
                : "members: " + extractor.memberPaths.prefix(5).joined(separator: ", ") + (extractor.memberPaths.count > 5 ? ", ..." : "")
            throw ArchiveError(.noBTFMember, "no .btf member (\(seen))", file: path)
        }
        return found
    }

}

/// One pass over an archive's members, keeping the `.btf` one and checking the rest.
private struct BTFMemberExtractor {
    let archivePath: String
    let maxDecompressedSize: Int
    /// Whether the `.btf` member is read with `BTF.readBlob` rather than into one array.
    let streamingSections: Bool
    private(set) var found: (memberPath: String, contents: BTF.StreamedBlob)?
    private(set) var memberPaths: [String] = []
    /// Member data bytes accounted for so far (read, skipped, or declared by the member in progress).
    private var budgetUsed = 0
    /// The member being read, for naming it in an error the tar reader raises.
    private var currentMember: String?

    init(archivePath: String, maxDecompressedSize: Int, streamingSections: Bool) {
        self.archivePath = archivePath
        self.maxDecompressedSize = maxDecompressedSize
        self.streamingSections = streamingSections
    }

    /// The error for a tar reading failure, naming the member being read when there was one.
    func error(for failure: TarFailure) -> ArchiveError {
        if failure.isTruncation {
            return ArchiveError(.truncated, "truncated archive: \(failure.message)", file: archivePath, member: currentMember)
        }
        return ArchiveError(.corrupt, "corrupt or not an xz-compressed tar: \(failure.message)", file: archivePath, member: currentMember)
    }

    mutating func run(_ reader: TarReader) throws {
        while let header = try reader.nextMember() {
            currentMember = header.path
            // Only a few names are kept for messages, so that an archive of millions of members stays cheap.
            if memberPaths.count < 6 { memberPaths.append(header.path) }
            // Headers count too: a tar of countless empty members must not run forever.
            if reader.decompressedBytes > Int64(maxDecompressedSize) {
                throw refusal(.tooLarge, "the archive expands to more than the limit of \(maxDecompressedSize) bytes "
                              + "(\(reader.decompressedBytes) bytes of tar before this member); refusing a possible decompression bomb", header.path)
            }
            try check(header)
            let isBTF = header.path.split(separator: "/").last.map { $0.hasSuffix(".btf") } ?? false
            if let size = header.declaredSize { try charge(Int(clamping: size), member: header.path) }
            if isBTF {
                guard header.type == .regularFile else {
                    throw refusal(.notRegularFile, "a .btf member must be a regular file, this one is \(describe(header.type))", header.path)
                }
                if let first = found {
                    throw refusal(.severalBTFMembers, "a second .btf member (the first was \(first.memberPath)); which kernel is meant is unclear", header.path)
                }
                let contents = try readBTFMember(reader, header)
                if case .bytes(let bytes) = contents, bytes.isEmpty {
                    throw refusal(.emptyMember, "the .btf member is empty (0 bytes)", header.path)
                }
                found = (header.path, contents)
            } else {
                try reader.skipMember()
            }
            currentMember = nil
        }
    }

    /// Refuses paths that would escape an extraction directory and links: btfhub archives have neither.
    private func check(_ header: TarMemberHeader) throws(ArchiveError) {
        if header.path.isEmpty { throw refusal(.corrupt, "a member has an empty path", header.path) }
        if header.path.hasPrefix("/") { throw refusal(.unsafePath, "absolute member path refused", header.path) }
        if header.path.split(separator: "/").contains("..") { throw refusal(.unsafePath, "member path with '..' refused", header.path) }
        switch header.type {
        case .symbolicLink:
            throw refusal(.link, "symbolic link (to \(header.linkTarget ?? "?")) refused", header.path)
        case .hardLink:
            throw refusal(.link, "hard link (to \(header.linkTarget ?? "?")) refused", header.path)
        default:
            break
        }
    }

    /// Counts `size` more bytes against the cap.
    private mutating func charge(_ size: Int, member: String) throws(ArchiveError) {
        budgetUsed = budgetUsed &+ size
        if size < 0 || budgetUsed > maxDecompressedSize {
            throw refusal(.tooLarge, "the archive expands to more than the limit of \(maxDecompressedSize) bytes "
                          + "(this member declares \(size) bytes); refusing a possible decompression bomb", member)
        }
    }

    /// Reads the `.btf` member: its sections streamed when asked for and its size is declared.
    private mutating func readBTFMember(_ reader: TarReader, _ header: TarMemberHeader) throws -> BTF.StreamedBlob {
        guard streamingSections, let size = header.declaredSize else { return .bytes(try readMember(reader, header)) }
        // The declared size was charged against the cap; the tar reader stops there.
        return try BTF.readBlob(size: Int(clamping: size)) { (buffer) throws(TarFailure) in
            var filled = 0
            while filled < buffer.count {
                let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                if n == 0 { throw TarFailure(message: "truncated tar archive: a member's data ends early", isTruncation: true) }
                filled += n
            }
        }
    }

    /// Reads the current member whole, enforcing the cap on the bytes actually produced too.
    private mutating func readMember(_ reader: TarReader, _ header: TarMemberHeader) throws -> [UInt8] {
        if let size = header.declaredSize {
            // Decompressed straight into an array of the declared size (already charged against the
            // cap): no staging copy of a kernel. The tar reader stops at the declared size and
            // reports a member that ends early as a truncation.
            return try [UInt8](unsafeUninitializedCapacity: Int(clamping: size)) { buffer, initialized in
                let raw = UnsafeMutableRawBufferPointer(buffer)
                while initialized < raw.count {
                    let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[initialized...]))
                    if n == 0 { throw TarFailure(message: "truncated tar archive: a member's data ends early", isTruncation: true) }
                    initialized += n
                }
            }
        }
        var bytes: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = try reader.read(into: chunk)
            if n == 0 { break }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0 ..< n]))
            // A header without a size was not charged.
            if bytes.count > maxDecompressedSize {
                throw refusal(.tooLarge, "the member expands to more than the limit of \(maxDecompressedSize) bytes; "
                              + "refusing a possible decompression bomb", header.path)
            }
        }
        return bytes
    }

    private func refusal(_ kind: ArchiveError.Kind, _ problem: String, _ member: String) -> ArchiveError {
        ArchiveError(kind, problem, file: archivePath, member: member)
    }

    private func describe(_ type: TarMemberType) -> String {
        switch type {
        case .regularFile: "a regular file"
        case .directory: "a directory"
        case .symbolicLink: "a symbolic link"
        case .hardLink: "a hard link"
        case .special(let bits): "a special file (mode \(String(bits, radix: 8)))"
        }
    }
}
