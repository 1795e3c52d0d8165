import Archive
#if canImport(Glibc)
import Glibc
#endif

/// The BPF object a runner (`btf-pack runner`) carries in its own executable.
public enum EmbeddedObject {
    /// The section holding the object's bytes, beside `.btfkit.pack`.
    public static let sectionName = ".btfkit.object"
    /// The largest object read from it.
    public static let maxSize = 64 << 20

    /// The object embedded in the running executable, or `nil` when it has none.
    /// Other failures (an unreadable executable) throw.
    public static func load(executable: String = "/proc/self/exe") throws(BPFLoaderError) -> [UInt8]? {
        do {
            return try ELFSectionReader.contents(ofSection: sectionName, inFile: executable, maxSize: maxSize)
        } catch {
            if error.kind == .noSection { return nil }
            throw BPFLoaderError("\(error)", errnoCode: error.kind == .unreadable ? EIO : EINVAL)
        }
    }
}
