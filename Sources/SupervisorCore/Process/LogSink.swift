import Foundation
import NIOCore
import NIOPosix
import Shared
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where one tenant's worker output goes: `log_dir/TENANT.log`, rotated by size like
/// supervisord's `maxbytes`/`backups` (TENANT.log.1 is the newest old file), or the
/// supervisor's stderr when `log_dir` is "-". Keeps the last lines in memory for `ctl logs`.
final class LogSink: Sendable {
    let tenant: String
    let path: String?
    private let maxBytes: Int
    private let backups: Int
    private let state: Mutex<State>
    static let keptLines = 1000

    private struct State {
        var fd: CInt = -1
        var size = 0
        var recent: [String] = []
        var partial = ""
        /// The log file could not be opened: lines go to the supervisor's stderr instead.
        var toStderr = false
    }

    init(tenant: String, directory: String?, maxBytes: Int, backups: Int) {
        self.tenant = tenant
        self.path = directory.map { "\($0)/\(tenant).log" }
        self.maxBytes = max(1024, maxBytes)
        self.backups = max(0, backups)
        var s = State()
        if let path {
            s.fd = Self.open(path, tenant: tenant, flags: O_APPEND)
            s.toStderr = s.fd < 0
            var st = stat()
            if s.fd >= 0, fstat(s.fd, &st) == 0 { s.size = Int(st.st_size) }
        } else {
            s.toStderr = true
        }
        state = Mutex(s)
    }

    /// Reads `fd` (a worker's output pipe) until it closes. Several instances of one tenant
    /// (during a replacement) may feed the same sink.
    func drain(_ fd: CInt) async {
        do {
            let channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .takingOwnershipOfDescriptor(input: fd) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            try await channel.executeThenClose { inbound, _ in
                for try await buffer in inbound {
                    append(buffer)
                }
            }
        } catch {
            // The pipe closed with an error: nothing more will come.
        }
    }

    /// Writes a line of the supervisor's own about this tenant (start, exit…) into its log.
    func note(_ line: String) {
        append(ByteBuffer(string: "[supervisor] \(line)\n"))
    }

    private func append(_ buffer: ByteBuffer) {
        let bytes = Array(buffer.readableBytesView)
        state.withLock { s in
            if s.toStderr {
                // "-": the supervisor's stderr, each line tagged with the tenant.
                let text = String(decoding: bytes, as: UTF8.self)
                var out = ""
                for line in (s.partial + text).split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
                    out += "[\(tenant)] \(line)\n"
                }
                _ = writeAll(2, Array(out.utf8))
            } else {
                if s.size + bytes.count > maxBytes { rotate(&s) }
                if s.fd >= 0, writeAll(s.fd, bytes) { s.size += bytes.count }
            }
            remember(&s, bytes)
        }
    }

    private func remember(_ s: inout State, _ bytes: [UInt8]) {
        let text = s.partial + String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        s.partial = lines.removeLast()
        s.recent.append(contentsOf: lines)
        if s.recent.count > Self.keptLines { s.recent.removeFirst(s.recent.count - Self.keptLines) }
    }

    private func rotate(_ s: inout State) {
        guard let path else { return }
        if s.fd >= 0 { Glibc.close(s.fd) }
        if backups > 0 {
            unlink("\(path).\(backups)")
            if backups > 1 {
                for i in stride(from: backups - 1, through: 1, by: -1) { rename("\(path).\(i)", "\(path).\(i + 1)") }
            }
            rename(path, "\(path).1")
        } else {
            unlink(path)
        }
        s.fd = Self.open(path, tenant: tenant, flags: O_APPEND | O_TRUNC)
        s.toStderr = s.fd < 0
        s.size = 0
    }

    /// Opens a log file, never through a symbolic link (someone who can write to `log_dir`
    /// could otherwise point TENANT.log at any file we may write). A failure is said on stderr,
    /// and the tenant's lines go there instead.
    private static func open(_ path: String, tenant: String, flags: CInt) -> CInt {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | flags, 0o640)
        if fd < 0 {
            let reason = errno == ELOOP ? "it is a symbolic link, which is not followed" : String(cString: strerror(errno))
            let line = "jetbrains-ai-supervisor: cannot open the log file \(escapingControlCharacters(path)): \(reason); "
                + "tenant \(tenant)'s output goes to this stderr instead\n"
            _ = writeAll(2, Array(line.utf8))
        }
        return fd
    }

    func lastLines(_ n: Int) -> [String] {
        state.withLock { s in
            var lines = s.recent
            if !s.partial.isEmpty { lines.append(s.partial) }
            return Array(lines.suffix(max(0, n)))
        }
    }

    func close() {
        state.withLock { s in
            if s.fd >= 0 { Glibc.close(s.fd) }
            s.fd = -1
        }
    }
}
