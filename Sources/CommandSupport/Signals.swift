import BTF
import Glibc
import Synchronization

// Every signal handler of the front ends, in one place. Two behaviours: a tool that writes files
// removes its temporary files and ends (`InterruptCleanup`); a tool that runs until stopped
// (btf-run's event loop) is asked to stop at its next turn (`StopRequest`). A process installs one.

/// After SIGINT, SIGTERM or SIGHUP, removes the temporary files `FileIO.writeAtomically` has open
/// and ends the process as the signal would have: only complete outputs remain.
public enum InterruptCleanup {
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
        // Before the cleanup thread starts, which inherits the mask and must not block what it raises.
        unblock(signals)
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        signalPipe = (fds[0], fds[1])
        var thread = pthread_t()
        guard pthread_create(&thread, nil, { _ in InterruptCleanup.waitForSignal() }, nil) == 0 else { return }
        pthread_detach(thread)
        setHandler(for: signals, restartingCalls: true) { signalNumber in
            var byte = UInt8(truncatingIfNeeded: signalNumber)
            _ = write(InterruptCleanup.signalPipe.write, &byte, 1)
        }
    }

    private static func waitForSignal() -> UnsafeMutableRawPointer? {
        var byte: UInt8 = 0
        while read(signalPipe.read, &byte, 1) != 1 {}
        PendingTemporaryFiles.removeAll {
            // Raised in this thread, which does not block it, the signal ends the process before
            // raise returns; should it not (blocked or ignored after all), exit as a shell reports it.
            signal(Int32(byte), SIG_DFL)
            raise(Int32(byte))
            _exit(128 + Int32(byte))
        }
    }
}

/// SIGINT and SIGTERM ask a command that runs until stopped to stop at its next turn, so that it
/// can detach and print what it holds: the handler only sets a flag the loop reads.
public enum StopRequest {
    private static let requested = Atomic<Bool>(false)

    /// Whether SIGINT or SIGTERM has come since `install()`.
    public static var isRequested: Bool { requested.load(ordering: .relaxed) }

    /// Installs the handlers. Without `SA_RESTART`: a blocking wait (`poll`) returns with EINTR
    /// at once, so the loop sees the request without waiting for its timeout.
    public static func install() {
        unblock([SIGINT, SIGTERM])
        setHandler(for: [SIGINT, SIGTERM], restartingCalls: false) { _ in StopRequest.requested.store(true, ordering: .relaxed) }
    }
}

/// `sigaction` for each of `signals`, with an empty mask.
private func setHandler(for signals: [Int32], restartingCalls: Bool, _ handler: @convention(c) (Int32) -> Void) {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = handler
    sigemptyset(&action.sa_mask)
    action.sa_flags = restartingCalls ? SA_RESTART : 0
    for signalNumber in signals { sigaction(signalNumber, &action, nil) }
}

/// Unblocks `signals` in the calling thread (and the threads it starts later). A process inherits
/// its parent's signal mask: one started by a Swift program's `Process` from a dispatch worker
/// thread (a test, a build tool) has SIGINT, SIGTERM and SIGHUP blocked, and a handler for a
/// blocked signal never runs: ^C would not reach it and the tool would finish, or never stop.
private func unblock(_ signals: [Int32]) {
    var set = sigset_t()
    sigemptyset(&set)
    for signalNumber in signals { sigaddset(&set, signalNumber) }
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}
