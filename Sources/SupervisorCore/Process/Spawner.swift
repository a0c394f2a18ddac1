import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// A started worker process and the supervisor's ends of its pipes.
struct SpawnedProcess: Sendable {
    var pid: pid_t
    /// Write end of the worker's stdin: settings go in first; closing it (or our death) tells the
    /// worker the supervisor is gone.
    var stdinFD: CInt
    /// Read end of the worker's stdout+stderr.
    var outputFD: CInt
}

enum Spawner {
    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts `executable` in its own process group with `listener` as fd 3 (systemd's socket
    /// activation: LISTEN_FDS=1, LISTEN_PID=its pid, LISTEN_FDNAMES), stdin from a pipe and
    /// stdout/stderr into another. A tiny `/bin/sh` trampoline sets LISTEN_PID to its own pid and
    /// execs the worker (same pid), since posix_spawn cannot know the pid beforehand. Signals
    /// the supervisor traps are reset to their defaults in the child.
    static func spawn(
        executable: String,
        arguments: [String],
        environment: [String: String],
        listenerFD: CInt,
        listenerName: String
    ) throws -> SpawnedProcess {
        var stdinPipe: [CInt] = [-1, -1]
        var outputPipe: [CInt] = [-1, -1]
        guard makePipe(&stdinPipe) else { throw SpawnError(description: "pipe2: \(String(cString: strerror(errno)))") }
        guard makePipe(&outputPipe) else {
            close(stdinPipe[0]); close(stdinPipe[1])
            throw SpawnError(description: "pipe2: \(String(cString: strerror(errno)))")
        }
        // dup2(fd, fd) would keep FD_CLOEXEC set, so make sure the source is not 3 already.
        var source = listenerFD
        var temporary: CInt = -1
        if source <= 3 {
            temporary = fcntl(source, F_DUPFD_CLOEXEC, 10)
            source = temporary
        }
        defer { if temporary >= 0 { close(temporary) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 2)
        posix_spawn_file_actions_adddup2(&actions, source, 3)
        // Nothing else: connections our HTTP servers accepted (NIO's accept4 does not set
        // SOCK_CLOEXEC) would otherwise live on in the worker, so a control connection we close
        // (after a 408, say) stayed open for the client as long as that worker ran.
        closeFrom(4, in: &actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2] { sigaddset(&defaults, sig) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes,
            Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        )

        let trampoline = #"LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@""#
        let argv = ["/bin/sh", "-c", trampoline, executable] + arguments
        var env = environment
        env["LISTEN_FDS"] = "1"
        env["LISTEN_FDNAMES"] = listenerName
        env.removeValue(forKey: "LISTEN_PID")
        let envp = env.map { "\($0.key)=\($0.value)" }

        var pid: pid_t = 0
        let rc = withCStrings(argv) { cArgv in
            withCStrings(envp) { cEnv in
                posix_spawn(&pid, "/bin/sh", &actions, &attributes, cArgv, cEnv)
            }
        }
        close(stdinPipe[0])
        close(outputPipe[1])
        guard rc == 0 else {
            close(stdinPipe[1])
            close(outputPipe[0])
            throw SpawnError(description: "posix_spawn \(executable): \(String(cString: strerror(rc)))")
        }
        return SpawnedProcess(pid: pid, stdinFD: stdinPipe[1], outputFD: outputPipe[0])
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// Adds "close every fd from `lowest` up" to `actions`: glibc's (2.34+)
/// `posix_spawn_file_actions_addclosefrom_np`, which Swift's Glibc module leaves out (it needs
/// `_GNU_SOURCE`), looked up at run time; without it (older C libraries) nothing is added.
private func closeFrom(_ lowest: CInt, in actions: inout posix_spawn_file_actions_t) {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, CInt) -> CInt
    guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return }
    _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, lowest)
}

/// A pipe whose ends are not inherited by other children (close-on-exec). `pipe2` is not in
/// Glibc's Swift module; the gap between `pipe` and `fcntl` is safe because every spawn runs on
/// the fleet runtime's actor, one after the other, and nothing else in the supervisor forks.
private func makePipe(_ fds: inout [CInt]) -> Bool {
    guard pipe(&fds) == 0 else { return false }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return true
}

/// Writes all of `data` to `fd` (blocking; used for the small settings line on a fresh pipe).
func writeAll(_ fd: CInt, _ data: [UInt8]) -> Bool {
    var offset = 0
    while offset < data.count {
        let n = data[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return false
        }
        offset += n
    }
    return true
}
