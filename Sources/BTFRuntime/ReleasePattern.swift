import Archive

/// What a kernel release string says about the distribution that built it: `.el8` is an
/// Enterprise Linux 8 kernel (CentOS, RHEL, Oracle Linux, Rocky, Alma), `.el8uek` Oracle's own,
/// `.amzn2` Amazon Linux 2, `.fc34` Fedora 34, `.deb10` a Debian 10 backport, `-amd64` (and
/// `-cloud-amd64`, `-rt-arm64` ...) Debian, `N.N.N-N-flavour` Ubuntu, `-default` SUSE.
///
/// Used only to choose among pack entries that hold the very same release (a collision); a
/// pattern never makes a different release acceptable.
public struct ReleasePattern: Sendable, Equatable, CustomStringConvertible {
    /// The part of the release that was recognised, e.g. `.el8`, `Ubuntu flavour -aws`.
    public var marker: String
    /// The btfhub distribution directories such a kernel is filed under.
    public var distros: [String]
    /// The version directory it implies (`8` for `.el8`, compared by major number), or `nil` for any.
    public var version: String?

    /// Whether `entry` is a distribution (and version) this pattern allows.
    public func admits(_ entry: KernelIdentity) -> Bool {
        distros.contains(entry.distro) && (version.map { ReleasePattern.version(entry.version, matches: $0) } ?? true)
    }

    /// `.el8 → centos/rhel/ol/rocky/almalinux 8`.
    public var description: String {
        "\(marker) → \(distros.joined(separator: "/"))" + (version.map { " \($0)" } ?? "")
    }

    /// Whether version directory `directory` is `wanted`, or `wanted`'s major number (RHEL's
    /// `VERSION_ID=8.4` is filed under `8`), or the other way round.
    static func version(_ directory: String, matches wanted: String) -> Bool {
        directory == wanted || wanted.hasPrefix(directory + ".") || directory.hasPrefix(wanted + ".")
    }

    static let enterpriseLinux = ["centos", "rhel", "ol", "rocky", "almalinux"]
    static let suse = ["sles", "opensuse-leap", "opensuse"]
    /// The last words of Debian's release flavours (`-amd64`, `-cloud-amd64`, `-686-pae`, `-armmp-lpae`).
    static let debianFlavourEnds: Set<Substring> = ["amd64", "arm64", "686", "pae", "armmp", "lpae", "s390x", "ppc64el",
                                                    "powerpc64le", "loong64", "marvell", "octeon", "rpi", "riscv64"]

    /// The pattern of `release`, or `nil` when it follows none this code knows.
    public static func recognize(_ release: String) -> ReleasePattern? {
        let dotted = release.split(separator: ".")
        for part in dotted {
            if let number = numberAfter("el", in: part) {
                // `el8uek`: Oracle's Unbreakable Enterprise Kernel, only ever under ol.
                if part.dropFirst(2 + number.count).hasPrefix("uek") {
                    return ReleasePattern(marker: ".el\(number)uek", distros: ["ol"], version: String(number))
                }
                return ReleasePattern(marker: ".el\(number)", distros: enterpriseLinux, version: String(number))
            }
            if let number = numberAfter("amzn", in: part) {
                // Amazon Linux 1 kernels (`.amzn1`) are filed under its last version, 2018.
                return ReleasePattern(marker: ".amzn\(number)", distros: ["amzn"], version: number == "1" ? "2018" : String(number))
            }
            if let number = numberAfter("fc", in: part) {
                return ReleasePattern(marker: ".fc\(number)", distros: ["fedora"], version: String(number))
            }
            if let number = numberAfter("deb", in: part) {  // backports: 5.10.0-0.deb10.16-amd64
                return ReleasePattern(marker: ".deb\(number)", distros: ["debian"], version: String(number))
            }
        }
        let words = release.split(separator: "-")
        guard words.count >= 2, let last = words.last else { return nil }
        if debianFlavourEnds.contains(last) {
            return ReleasePattern(marker: "Debian flavour -\(words.dropFirst(2).joined(separator: "-"))", distros: ["debian"], version: nil)
        }
        if last == "default" {
            return ReleasePattern(marker: "SUSE flavour -default", distros: suse, version: nil)
        }
        // Ubuntu: `5.4.0-26-generic`, `5.4.0-1029-aws`, `5.15.0-1004-intel-iotg`: an all-digit ABI
        // number, then a flavour word (SUSE's `5.3.18-150300.38.88-azure` has dots in its ABI).
        if words.count >= 3, words[0].split(separator: ".").count == 3, words[1].allSatisfy({ $0.isASCII && $0.isNumber }),
           let first = words[2].first, first.isASCII && first.isLetter {
            return ReleasePattern(marker: "Ubuntu flavour -\(words.dropFirst(2).joined(separator: "-"))", distros: ["ubuntu"], version: nil)
        }
        return nil
    }

    /// The digits right after `prefix` at the start of `part` (`numberAfter("el", "el8_1")` is `8`).
    private static func numberAfter(_ prefix: String, in part: Substring) -> Substring? {
        guard part.hasPrefix(prefix) else { return nil }
        let digits = part.dropFirst(prefix.count).prefix { $0.isASCII && $0.isNumber }
        return digits.isEmpty ? nil : digits
    }

    /// Ubuntu's codenames and their version directories, for derivatives (Linux Mint, Pop!_OS)
    /// whose os-release says `UBUNTU_CODENAME=focal` rather than `VERSION_ID=20.04`.
    static let ubuntuCodenames = [
        "xenial": "16.04", "bionic": "18.04", "focal": "20.04", "jammy": "22.04", "noble": "24.04",
    ]
}
