/// Which kernel a BTF file describes, in btfhub's terms: `<distro>/<version>/<arch>/<release>`.
///
/// `distro` and `version` are os-release's `ID` and `VERSION_ID` (`centos`/`8`, `ubuntu`/`20.04`),
/// `arch` is btfhub's spelling of `uname -m` (`x86_64`, `arm64`), `release` is `uname -r`.
public struct KernelIdentity: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var distro: String
    public var version: String
    public var arch: String
    public var release: String

    public init(distro: String, version: String, arch: String, release: String) {
        self.distro = distro
        self.version = version
        self.arch = arch
        self.release = release
    }

    /// The btfhub path of this kernel's raw BTF: `<distro>/<version>/<arch>/<release>.btf`.
    public var btfRelativePath: String { "\(distro)/\(version)/\(arch)/\(release).btf" }

    /// `distro/version/arch/release`.
    public var description: String { "\(distro)/\(version)/\(arch)/\(release)" }

    public static func < (a: KernelIdentity, b: KernelIdentity) -> Bool {
        (a.distro, a.version, a.arch, a.release) < (b.distro, b.version, b.arch, b.release)
    }

    /// btfhub's name for a `uname -m` machine: `aarch64` is `arm64`, everything else unchanged.
    public static func btfhubArch(forMachine machine: String) -> String {
        machine == "aarch64" ? "arm64" : machine
    }
}
