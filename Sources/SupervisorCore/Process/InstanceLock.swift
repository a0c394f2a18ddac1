import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// One supervisor per `run_dir`: `run_dir/supervisor.lock`, held with `flock` for the life of
/// the process (the kernel drops it when we exit, however we exit) and holding our pid for the
/// message a second instance prints. A second `run` on the same file stops here, before it
/// binds or unlinks anything.
final class InstanceLock: Sendable {
    let path: String
    private let fd: CInt

    struct Held: Error, CustomStringConvertible {
        var description: String
    }

    init(runDir: String) throws {
        path = "\(runDir)/supervisor.lock"
        let shown = escapingControlCharacters(path)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw Held(description: "cannot open \(shown): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let reason = String(cString: strerror(errno))
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            guard busy else { throw Held(description: "cannot lock \(shown): \(reason)") }
            let pid = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
            throw Held(description: "another supervisor\(Int32(pid).map { " (pid \($0))" } ?? "") is already running with run_dir "
                + "\(escapingControlCharacters(runDir)) (it holds \(shown)); nothing was changed. "
                + "Use `ctl status` to talk to it, or stop it first.")
        }
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, text, text.count, 0)
        self.fd = fd
    }

    deinit { close(fd) }
}
