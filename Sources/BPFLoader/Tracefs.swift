import BTF
import CLinuxShims
import Glibc

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

    /// Mounts tracefs at `/sys/kernel/tracing` when neither place has it, in a mount namespace of
    /// this thread's own: the machine's mounts stay as they were (unmounting a tracefs we had
    /// mounted for everyone could pull it from under another tool that began using it meanwhile),
    /// and the mount ends with the process. libbpf reads tracepoint ids on the calling thread, so
    /// call this on the thread that loads and attaches. Returns whether it mounted tracefs.
    public static func mountIfNeeded() throws(BPFLoaderError) -> Bool {
        guard !isAvailable else { return false }
        // Mounted, but this user may not look inside (tracefs is mode 0700): mounting again would not help.
        for place in [mountPoint, debugfsPath] where access(place + "/events", F_OK) != 0 && errno == EACCES {
            throw BPFLoaderError("a tracepoint program needs tracefs, and \(place) is not readable by this user: "
                                 + "run it as root (loading BPF programs needs root, or CAP_BPF and CAP_PERFMON, anyway)", errnoCode: EACCES)
        }
        if btfkit_enter_private_mount_namespace() != 0 || mount("tracefs", mountPoint, "tracefs", 0, nil) != 0 {
            let code = errno
            // Only root mounts: the useful advice is the same as for the load that would follow.
            if (code == EPERM || code == EACCES) && geteuid() != 0 {
                throw BPFLoaderError("a tracepoint program needs tracefs, which is not mounted, and only root can mount it: "
                                     + "run it as root (loading BPF programs needs root, or CAP_BPF and CAP_PERFMON, anyway)", errnoCode: code)
            }
            throw BPFLoaderError("a tracepoint program needs tracefs, which is not mounted, and mounting it at \(mountPoint) failed: \(errnoText(code))", errnoCode: code)
        }
        return true
    }
}
