import BTF
import Glibc

/// Runs a program and collects what it prints (standard output and error together).
enum Subprocess {
    struct Result {
        /// The exit status, or 128 + the signal number when a signal ended it.
        var status: Int32
        var output: String
    }

    struct LaunchError: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `path` with `arguments` (no shell, this process's environment) and waits for it.
    /// Throws when it cannot be started (missing, not executable, not for this machine).
    static func run(_ path: String, _ arguments: [String]) throws(LaunchError) -> Result {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw LaunchError(description: "pipe: \(errnoText())") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addclose(&actions, fds[0])

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        close(fds[1])
        guard spawned == 0 else {
            close(fds[0])
            throw LaunchError(description: "cannot start \(path): \(String(cString: strerror(spawned)))")
        }

        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = try? chunk.withUnsafeMutableBytes { (buffer) throws(Errno) in try retryingOnInterrupt { read(fds[0], buffer.baseAddress, buffer.count) } }
            guard let n, n > 0 else { break }
            output.append(contentsOf: chunk[0 ..< n])
        }
        close(fds[0])
        var status: Int32 = 0
        _ = try? retryingOnInterrupt { waitpid(pid, &status, 0) }
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift does not import.
        let exitCode = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: exitCode, output: String(decoding: output, as: UTF8.self))
    }
}
