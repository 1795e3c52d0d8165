import Glibc
import Synchronization

/// The temporary files `FileIO.writeAtomically` has open, so that a tool ended by a signal can
/// remove them first (CommandSupport's `InterruptCleanup` does): only complete outputs remain.
///
/// Creating a temporary file and renaming it into place each happen under one lock, and the
/// removal takes that lock for good before removing the files, so no rename can follow it and no
/// temporary file can be created after it.
package enum PendingTemporaryFiles {
    private static let pending = Mutex<Set<String>>([])

    /// Creates a temporary file with `create` (which returns its descriptor and path, or `nil`)
    /// and registers it, atomically with respect to the removal.
    static func creating(_ create: () -> (fd: Int32, path: String)?) -> (fd: Int32, path: String)? {
        pending.withLock { paths in
            let made = create()
            if let made { paths.insert(made.path) }
            return made
        }
    }

    /// Runs `finish` (the rename into place, or the unlink after a failure) and forgets `path`,
    /// atomically with respect to the removal.
    static func finishing<Result>(_ path: String, _ finish: () -> Result) -> Result {
        pending.withLock { paths in
            let result = finish()
            paths.remove(path)
            return result
        }
    }

    /// Removes every registered temporary file, then runs `end`, which ends the process, still
    /// holding the lock: no writer can create or rename a file before the process is gone.
    package static func removeAll(thenEnd end: () -> Never) -> Never {
        pending.withLock { (paths: inout Set<String>) -> Never in
            for path in paths { unlink(path) }
            end()
        }
    }
}
