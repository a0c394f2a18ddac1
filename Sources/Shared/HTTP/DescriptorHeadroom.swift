import Foundation
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Keeps file descriptors in reserve: a listener stops accepting while the process is within
/// `reserve` descriptors of its `RLIMIT_NOFILE`, and resumes once connections have closed.
///
/// Why: at the limit, not only do accepts fail (EMFILE, which NIO retries after a second) —
/// everything that opens a descriptor does. libdispatch, which runs Swift concurrency on
/// Linux, opens `/proc/<tid>/stat` for its thread-pool monitor and traps ("workq: registered
/// worker exited prematurely", SIGILL) when that fails: a flood of idle connections killed
/// workers that way. The reserve also keeps room for upstream connections, control-socket
/// connections (heartbeats), log files and state files. Connections left waiting stay in the
/// kernel's backlog.
public enum DescriptorHeadroom {
    /// Descriptors kept free: an eighth of the limit, at least 64 and at most 1024.
    public static func reserve(forLimit limit: Int) -> Int {
        min(1024, max(64, limit / 8))
    }

    struct Budget {
        var limit = 0
        var counted = 0
        var countedAt = ContinuousClock.now - .seconds(1)
        var acceptsSinceCount = 0
        var shedding = false
    }

    static let budget = Mutex(Budget())
    /// Connections one read of a server channel may accept (NIO's `maxMessagesPerRead` default).
    static let acceptsPerRead = 4

    /// Whether a listener may accept another round of connections; `logger` hears about the
    /// first refusal and the recovery.
    static func mayAccept(logger: Logger) -> Bool {
        let now = ContinuousClock.now
        let (allowed, change) = budget.withLock { b -> (Bool, String?) in
            if b.limit == 0 || now - b.countedAt > .milliseconds(10) {
                b.limit = softLimit()
                b.counted = openDescriptors() ?? b.limit
                b.countedAt = now
                b.acceptsSinceCount = 0
            }
            let ceiling = b.limit - reserve(forLimit: b.limit)
            let allowed = b.counted + b.acceptsSinceCount + acceptsPerRead <= ceiling
            if allowed { b.acceptsSinceCount += acceptsPerRead }
            var change: String?
            if allowed == b.shedding {
                b.shedding = !allowed
                change = allowed
                    ? "file descriptors available again (\(b.counted) of \(b.limit) open): accepting connections"
                    : "file descriptors nearly exhausted (\(b.counted) of \(b.limit) open, \(reserve(forLimit: b.limit)) kept in reserve): "
                        + "not accepting new connections for now (they wait in the listen backlog)"
            }
            return (allowed, change)
        }
        if let change { allowed ? logger.info("\(change)") : logger.warning("\(change)") }
        return allowed
    }

    static func softLimit() -> Int {
        var limit = rlimit()
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return 1024 }
        return limit.rlim_cur == rlim_t.max ? Int(Int32.max) : Int(clamping: limit.rlim_cur)
    }

    /// The number of open descriptors (`/proc/self/fd`); nil where that cannot be read (then
    /// the listener waits, which is right when it is for lack of a descriptor).
    static func openDescriptors() -> Int? {
        guard let dir = opendir("/proc/self/fd") else { return nil }
        defer { closedir(dir) }
        var count = -1  // the directory's own descriptor
        while let entry = readdir(dir) {
            if entry.pointee.d_name.0 != 0x2E { count += 1 }  // skip . and ..
        }
        return max(0, count)
    }

    /// The handler for a server channel's pipeline (before NIO's accept handlers): it holds
    /// back the channel's reads while there is no headroom and retries every 50 ms.
    final class Handler: ChannelOutboundHandler, RemovableChannelHandler {
        typealias OutboundIn = Never
        private let logger: Logger
        private var retry: Scheduled<Void>?

        init(logger: Logger) {
            self.logger = logger
        }

        func read(context: ChannelHandlerContext) {
            guard retry == nil else { return }
            if DescriptorHeadroom.mayAccept(logger: logger) {
                context.read()
                return
            }
            retry = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(50)) { [self] in
                retry = nil
                // Paused meanwhile (`pauseAccepting`): resuming asks for a read again.
                let accepting = (try? context.channel.syncOptions?.getOption(ChannelOptions.autoRead)) ?? true
                if accepting, context.channel.isActive { read(context: context) }
            }
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            retry?.cancel()
            retry = nil
        }
    }
}
