#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The open-file limit (`RLIMIT_NOFILE`).
public enum FileLimits {
    public struct Change: Sendable, Equatable, CustomStringConvertible {
        public var before: UInt64
        public var after: UInt64
        public var hard: UInt64
        public var description: String {
            before == after ? "open file limit \(after) (hard \(hard))" : "open file limit raised from \(before) to \(after) (hard \(hard))"
        }
    }

    /// Raises the soft limit to the hard one (a gateway holds a descriptor per client connection
    /// and per upstream connection; 1024 is far too few). Call once at start, before any thread
    /// opens files. Returns nil when the limits cannot be read.
    @discardableResult
    public static func raiseSoftLimit() -> Change? {
        var limit = rlimit()
        guard getrlimit(resourceNOFILE, &limit) == 0 else { return nil }
        let before = UInt64(limit.rlim_cur)
        var target = limit.rlim_max
        #if canImport(Darwin)
        // macOS refuses RLIM_INFINITY for the soft limit; OPEN_MAX is what it accepts.
        if target == RLIM_INFINITY { target = rlim_t(OPEN_MAX) }
        #endif
        if limit.rlim_cur < target {
            limit.rlim_cur = target
            _ = setrlimit(resourceNOFILE, &limit)
        }
        var now = rlimit()
        guard getrlimit(resourceNOFILE, &now) == 0 else { return nil }
        return Change(before: before, after: UInt64(now.rlim_cur), hard: UInt64(now.rlim_max))
    }

    #if os(Linux)
    private static let resourceNOFILE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resourceNOFILE = RLIMIT_NOFILE
    #endif
}
