#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Collects exited children with `waitpid` (without blocking) and says how each ended.
enum ChildReaper {
    /// Every child that has exited since the last call: (pid, how it ended).
    static func reap() -> [(pid: Int32, exit: WorkerExit)] {
        var reaped: [(Int32, WorkerExit)] = []
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { break }
            reaped.append((pid, decode(status)))
        }
        return reaped
    }

    /// Decodes a `waitpid` status (the W* macros are not visible from Swift).
    static func decode(_ status: Int32) -> WorkerExit {
        let signal = status & 0x7f
        if signal == 0 { return .code((status >> 8) & 0xff) }
        return .signal(signalName(signal))
    }

    static func signalName(_ number: Int32) -> String {
        let names: [Int32: String] = [
            1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
            8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
            14: "SIGALRM", 15: "SIGTERM", 19: "SIGSTOP", 24: "SIGXCPU", 25: "SIGXFSZ",
        ]
        return names[number] ?? "SIG\(number)"
    }
}
