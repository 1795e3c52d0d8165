import BTF
import Glibc

/// A private directory (mode 0700) for intermediate files, such as the kernels trimmed for a
/// pack or a runner copied to be tried: `$TMPDIR/NAME.XXXXXX` (`/tmp` without `TMPDIR`). The
/// caller removes it with `remove()`, in a `defer` beside its creation.
public struct ScratchDirectory: Sendable {
    /// The directory's path.
    public let path: String

    /// Where scratch directories go: `$TMPDIR`, else `/tmp`.
    public static var parent: String {
        getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    }

    /// Creates `NAME.XXXXXX` in `parent`; `purpose` completes the error message.
    public init(_ name: String, purpose: String, in parent: String = ScratchDirectory.parent) throws(PackError) {
        var template = Array("\(parent)/\(name).XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            throw PackError(.unreadable, "cannot create a scratch directory \(purpose): \(errnoText())", file: parent)
        }
        path = created
    }

    /// Removes the directory and everything in it, not following symbolic links; what cannot be
    /// removed stays.
    public func remove() {
        ScratchDirectory.removeTree(path)
    }

    /// `rm -rf path`, not following symbolic links.
    private static func removeTree(_ path: String) {
        if unlink(path) == 0 || errno == ENOENT { return }  // a file, a link, or nothing
        if let directory = opendir(path) {
            var names: [String] = []
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(directory)
            for name in names { removeTree(path + "/" + name) }
        }
        rmdir(path)
    }
}
