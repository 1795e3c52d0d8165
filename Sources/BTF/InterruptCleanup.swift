import Glibc
import Synchronization

/// The temporary files `FileIO.writeAtomically` has open, so that an interrupted tool can remove
/// them: after SIGINT, SIGTERM or SIGHUP only complete outputs remain.
///
/// Creating a temporary file and renaming it into place each happen under one lock, and the
/// cleanup takes that lock for good before removing the files, so no rename can follow a cleanup
/// and no temporary file can be created after it.
public enum InterruptCleanup {
    private static let pending = Mutex<Set<String>>([])
    /// The pipe the signal handler writes the signal number to (async-signal-safe), read by the cleanup thread.
    nonisolated(unsafe) private static var signalPipe: (read: Int32, write: Int32) = (-1, -1)
    private static let installed = Atomic<Bool>(false)

    /// Signals after which the temporary files are removed before the process ends.
    public static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// Installs handlers for `signals`: on the first one, every registered temporary file is
    /// removed and the signal is raised again with its default action, so the exit status still
    /// says "killed by SIGINT" (or, failing that, exit status 128 + the signal number). Call once,
    /// early in `main`; later calls do nothing.
    public static func install() {
        guard installed.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else { return }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        signalPipe = (fds[0], fds[1])
        var thread = pthread_t()
        guard pthread_create(&thread, nil, { _ in InterruptCleanup.waitForSignal() }, nil) == 0 else { return }
        pthread_detach(thread)
        for signalNumber in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signalNumber in
                var byte = UInt8(truncatingIfNeeded: signalNumber)
                _ = write(InterruptCleanup.signalPipe.write, &byte, 1)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(signalNumber, &action, nil)
        }
    }

    /// Creates a temporary file with `create` (which returns its descriptor and path, or `nil`)
    /// and registers it, atomically with respect to the cleanup.
    static func creating(_ create: () -> (fd: Int32, path: String)?) -> (fd: Int32, path: String)? {
        pending.withLock { paths in
            let made = create()
            if let made { paths.insert(made.path) }
            return made
        }
    }

    /// Runs `finish` (the rename into place, or the unlink after a failure) and forgets `path`,
    /// atomically with respect to the cleanup.
    static func finishing<Result>(_ path: String, _ finish: () -> Result) -> Result {
        pending.withLock { paths in
            let result = finish()
            paths.remove(path)
            return result
        }
    }

    private static func waitForSignal() -> UnsafeMutableRawPointer? {
        var byte: UInt8 = 0
        while read(signalPipe.read, &byte, 1) != 1 {}
        pending.withLock { paths in
            for path in paths { unlink(path) }
            // Still holding the lock: no writer can create or rename a file before the process ends.
            // Raised in this thread, which does not block it, the signal ends the process before
            // raise returns; should it not (blocked or ignored after all), exit as a shell reports it.
            signal(Int32(byte), SIG_DFL)
            raise(Int32(byte))
            _exit(128 + Int32(byte))
        }
        return nil  // not reached: the closure above ends the process
    }
}
