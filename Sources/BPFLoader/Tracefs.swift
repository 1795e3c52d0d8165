import BTF
#if canImport(Glibc)
import Glibc
#endif

/// tracefs, which libbpf reads to attach tracepoints (`events/<category>/<name>/id`).
public enum Tracefs {
    /// Where it is mounted nowadays.
    public static let mountPoint = "/sys/kernel/tracing"
    /// The older place, under debugfs (libbpf 1.1 prefers it when present).
    public static let debugfsPath = "/sys/kernel/debug/tracing"

    /// Whether tracepoint ids can be read from either place.
    public static var isAvailable: Bool {
        access(mountPoint + "/events", F_OK) == 0 || access(debugfsPath + "/events", F_OK) == 0
    }

    /// Mounts tracefs at `/sys/kernel/tracing` when neither place has it. Returns whether it
    /// mounted it (the caller may unmount it at the end); throws when the mount fails.
    public static func mountIfNeeded() throws(BPFLoaderError) -> Bool {
        guard !isAvailable else { return false }
        // Mounted, but this user may not look inside (tracefs is mode 0700): mounting again would not help.
        for place in [mountPoint, debugfsPath] where access(place + "/events", F_OK) != 0 && errno == EACCES {
            throw BPFLoaderError("a tracepoint program needs tracefs, and \(place) is not readable by this user: "
                                 + "run it as root (loading BPF programs needs root, or CAP_BPF and CAP_PERFMON, anyway)", errnoCode: EACCES)
        }
        if mount("tracefs", mountPoint, "tracefs", 0, nil) != 0 {
            let code = errno
            // Unprivileged, mounting is refused as everything else will be: say what helps.
            let hint = code == EPERM && geteuid() != 0 ? ": run it as root (loading BPF programs needs root, or CAP_BPF and CAP_PERFMON, anyway)" : ""
            throw BPFLoaderError("a tracepoint program needs tracefs, which is not mounted, and mounting it at \(mountPoint) failed: \(errnoText(code))\(hint)", errnoCode: code)
        }
        return true
    }

    /// Unmounts what `mountIfNeeded` mounted (lazily: open files keep it alive until closed).
    public static func unmount() {
        _ = umount2(mountPoint, Int32(MNT_DETACH))
    }
}
