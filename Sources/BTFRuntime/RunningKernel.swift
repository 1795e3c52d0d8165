import Archive
import BTF
import Glibc

/// The running kernel's identity in btfhub's terms, from os-release and `uname`.
public enum RunningKernel {
    /// Where os-release is looked for, in order (os-release(5)).
    public static let osReleasePaths = ["/etc/os-release", "/usr/lib/os-release"]

    /// `ID`, `VERSION_ID` from the first readable os-release file of `osReleasePaths`, btfhub's
    /// spelling of `uname -m` (`aarch64` is `arm64`) and `uname -r`.
    public static func identity(osReleasePaths: [String] = osReleasePaths) throws(BTFRuntimeError) -> KernelIdentity {
        let (machine, release) = try uname()
        return try identity(osReleasePaths: osReleasePaths, machine: machine, release: release)
    }

    /// The identity with `machine` and `release` given instead of asked of the kernel.
    public static func identity(osReleasePaths: [String], machine: String, release: String) throws(BTFRuntimeError) -> KernelIdentity {
        var tried: [String] = []
        for path in osReleasePaths {
            guard let text = readSmallFile(path) else { tried.append("\(path) (\(errnoText()))"); continue }
            let osRelease = OSRelease(parsing: text)
            guard let id = osRelease.id else {
                throw BTFRuntimeError(.unknownIdentity, "\(path) has no ID= line, so the distribution is unknown", errnoCode: ENOENT)
            }
            guard let version = osRelease.versionID else {
                throw BTFRuntimeError(.unknownIdentity, "\(path) has no VERSION_ID= line (ID=\(id)); btfhub files kernels by distribution version, "
                                      + "so an embedded pack cannot match this system; set BTFKIT_BTF=/path/to/vmlinux.btf instead", errnoCode: ENOENT)
            }
            return KernelIdentity(distro: id, version: version, arch: KernelIdentity.btfhubArch(forMachine: machine), release: release)
        }
        throw BTFRuntimeError(.unknownIdentity, "no os-release file could be read: " + tried.joined(separator: ", "), errnoCode: ENOENT)
    }

    /// `uname -m` and `uname -r`.
    public static func uname() throws(BTFRuntimeError) -> (machine: String, release: String) {
        var names = utsname()
        guard Glibc.uname(&names) == 0 else {
            throw BTFRuntimeError(.unknownIdentity, "uname failed: \(errnoText())", errnoCode: errno)
        }
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return (field(names.machine), field(names.release))
    }

    /// A whole small text file, or `nil` (with `errno` set) if it cannot be read.
    static func readSmallFile(_ path: String, limit: Int = 1 << 20) -> String? {
        // O_NONBLOCK: a FIFO named as os-release must not hang the program's start.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            // On failure errno stays as the read left it.
            guard let n = try? chunk.withUnsafeMutableBytes({ (buffer) throws(Errno) in try retryingOnInterrupt { Glibc.read(fd, buffer.baseAddress, buffer.count) } }) else { return nil }
            if n == 0 { break }
            bytes += chunk[0 ..< n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
