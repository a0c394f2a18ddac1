import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// Decodes a `waitpid` status (the W* macros are not visible from Swift).
enum ExitStatus {
    static func decode(_ status: Int32, at date: Date = Date()) -> ExitInfo {
        let signal = status & 0x7f
        if signal == 0 { return ExitInfo(code: (status >> 8) & 0xff, at: date) }
        return ExitInfo(signal: signalName(signal), at: date)
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

/// Reaps every exited child without blocking: (pid, raw status).
func reapChildren() -> [(pid_t, Int32)] {
    var reaped: [(pid_t, Int32)] = []
    while true {
        var status: Int32 = 0
        let pid = waitpid(-1, &status, WNOHANG)
        if pid <= 0 { break }
        reaped.append((pid, status))
    }
    return reaped
}
