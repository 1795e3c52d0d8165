import Archive
import BTF
import Glibc

/// What the runtime knows about the machine it runs on: `uname` (always) and os-release (when a
/// file could be read). Unlike `KernelIdentity`, the distribution may be unknown: inside a
/// container os-release describes the image, a rolling distribution has no `VERSION_ID`, and the
/// release alone often still finds the kernel in a pack.
public struct MachineIdentity: Sendable, Equatable, CustomStringConvertible {
    /// os-release `ID` (`ubuntu`, `centos`), or `nil` when unknown.
    public var id: String?
    /// os-release `VERSION_ID` (`20.04`, `8`), or `nil` when unknown.
    public var versionID: String?
    /// The whole os-release file read (`ID_LIKE`, `UBUNTU_CODENAME` help resolve collisions), if any.
    public var osRelease: OSRelease?
    /// Where `id` and `versionID` came from, for messages: a path and why it was read
    /// (`/host/etc/os-release (BTFKIT_HOST_ROOT=/host)`), or `given`.
    public var osReleaseSource: String?
    /// `uname -m` as the kernel reports it (`x86_64`, `aarch64`).
    public var machine: String
    /// `uname -r`.
    public var release: String

    /// A machine identity from its parts; `osRelease`, when given, supplies `ID_LIKE` and codenames.
    public init(id: String?, versionID: String?, machine: String, release: String,
                osRelease: OSRelease? = nil, osReleaseSource: String? = nil) {
        self.id = id
        self.versionID = versionID
        self.machine = machine
        self.release = release
        self.osRelease = osRelease
        self.osReleaseSource = osReleaseSource
    }

    /// The machine a complete `KernelIdentity` describes (its arch is taken as the machine).
    public init(_ identity: KernelIdentity) {
        self.init(id: identity.distro, versionID: identity.version, machine: identity.arch, release: identity.release,
                  osReleaseSource: "given")
    }

    /// btfhub's spelling of `machine` (`aarch64` is `arm64`).
    public var arch: String { KernelIdentity.btfhubArch(forMachine: machine) }

    /// The pack entry an exact match needs; `nil` when `ID` or `VERSION_ID` is unknown.
    public var exactIdentity: KernelIdentity? {
        guard let id, let versionID else { return nil }
        return KernelIdentity(distro: id, version: versionID, arch: arch, release: release)
    }

    /// `ID=ubuntu VERSION_ID=20.04 arch x86_64 release 5.4.0-26-generic`, with `?` for unknowns.
    public var description: String {
        "ID=\(id ?? "?") VERSION_ID=\(versionID ?? "?") arch \(arch) release \(release)"
    }
}

extension RunningKernel {
    /// `path` (absolute, as the host sees it) inside the directory `root`, following symbolic
    /// links as the host would: an absolute target (`/etc/os-release -> /usr/lib/os-release`)
    /// stays under `root` instead of escaping to the container's own file, and `..` never climbs
    /// above `root`. Only the last component's links are followed, up to 16 hops.
    static func pathUnderRoot(_ root: String, _ path: String) -> String {
        var current = normalized(path)
        for _ in 0 ..< 16 {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let length = buffer.withUnsafeMutableBytes { readlink(root + current, $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4095) }
            guard length > 0 else { break }  // not a link (or unreadable: the open reports it)
            let target = String(decoding: buffer[0 ..< length], as: UTF8.self)
            let directory = current.split(separator: "/").dropLast().joined(separator: "/")
            current = normalized(target.hasPrefix("/") ? target : "/" + directory + "/" + target)
        }
        return root + current
    }

    /// An absolute path with `.`, `..` and empty components resolved lexically, `..` stopping at `/`.
    static func normalized(_ path: String) -> String {
        var components: [Substring] = []
        for component in path.split(separator: "/") {
            if component == "." { continue }
            if component == ".." { _ = components.popLast(); continue }
            components.append(component)
        }
        return "/" + components.joined(separator: "/")
    }

    /// `BTFKIT_HOST_ROOT=/host`: read os-release under this directory (the host's root mounted
    /// into a container) instead of `/`.
    public static let hostRootVariable = "BTFKIT_HOST_ROOT"
    /// `BTFKIT_OS_RELEASE=FILE`: read `ID` and `VERSION_ID` from this file.
    public static let osReleaseFileVariable = "BTFKIT_OS_RELEASE"

    /// The machine's identity: `uname` for the release and machine, and os-release from, in order
    /// of precedence, `osReleaseFile`, `hostRoot` + each of `osReleasePaths`, or `osReleasePaths`.
    /// An os-release that cannot be read or lacks `ID`/`VERSION_ID` is not an error here: it
    /// leaves those fields `nil`, and `notes` says why (selection may still find the kernel by
    /// its release). Only a failing `uname` throws. `machine`/`release` replace `uname`'s answers.
    public static func machineIdentity(osReleasePaths: [String] = osReleasePaths, hostRoot: String? = nil,
                                       osReleaseFile: String? = nil, machine: String? = nil, release: String? = nil,
                                       notes: inout [String]) throws(BTFRuntimeError) -> MachineIdentity {
        var unameMachine = machine ?? "", unameRelease = release ?? ""
        if machine == nil || release == nil {
            let answer = try uname()
            if machine == nil { unameMachine = answer.machine }
            if release == nil { unameRelease = answer.release }
        }
        var identity = MachineIdentity(id: nil, versionID: nil, machine: unameMachine, release: unameRelease)
        let candidates: [(path: String, why: String)]
        if let osReleaseFile, !osReleaseFile.isEmpty {
            candidates = [(osReleaseFile, "\(osReleaseFileVariable)")]
        } else if let hostRoot, !hostRoot.isEmpty {
            let root = hostRoot.hasSuffix("/") ? String(hostRoot.dropLast()) : hostRoot
            candidates = osReleasePaths.map { (pathUnderRoot(root, $0), "host root \(hostRoot)") }
        } else {
            candidates = osReleasePaths.map { ($0, "") }
        }
        for (path, why) in candidates {
            let source = why.isEmpty ? path : "\(path) (\(why))"
            guard let text = readSmallFile(path) else {
                notes.append("os-release: \(source): \(errnoText())")
                continue
            }
            let osRelease = OSRelease(parsing: text)
            identity.id = osRelease.id
            identity.versionID = osRelease.versionID
            identity.osRelease = osRelease
            identity.osReleaseSource = source
            var line = "os-release: \(source): ID=\(osRelease.id ?? "(none)") VERSION_ID=\(osRelease.versionID ?? "(none)")"
            if let like = osRelease.fields["ID_LIKE"] { line += " ID_LIKE=\"\(like)\"" }
            notes.append(line)
            break
        }
        if identity.osReleaseSource == nil {
            notes.append("os-release: none readable; the distribution is unknown, only the release can find the kernel")
        }
        return identity
    }
}
