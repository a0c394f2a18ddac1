import Foundation
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// sd_notify(3) without libsystemd: one datagram per message to `$NOTIFY_SOCKET`, a path or,
/// written with a leading '@', a socket in the abstract namespace.
struct NotifySocket: Sendable, Equatable {
    /// The `sun_path` bytes (abstract: a leading NUL, no terminator).
    let path: [UInt8]

    /// `sun_path` is 108 bytes on Linux; a path socket also needs its terminating NUL.
    static let maxPathBytes = 108

    init?(_ value: String) {
        var bytes = Array(value.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@"), bytes.count >= 2,
              !bytes.contains(0) else { return nil }
        if first == UInt8(ascii: "@") {
            bytes[0] = 0
            guard bytes.count <= Self.maxPathBytes else { return nil }
        } else {
            guard bytes.count < Self.maxPathBytes else { return nil }
        }
        path = bytes
    }

    var isAbstract: Bool { path.first == 0 }

    /// Sends `message`; false when the datagram could not be sent (nothing else happens).
    @discardableResult
    func send(_ message: String) -> Bool {
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_DGRAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.enumerated() { raw[index] = byte }
        }
        let offset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2
        let length = socklen_t(offset + path.count + (isAbstract ? 0 : 1))
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { buffer in
                    sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), socketAddress, length)
                }
            }
        }
        return sent == bytes.count
    }
}

/// What systemd asked of this process through its environment.
struct SystemdNotifyEnvironment: Equatable {
    var socket: NotifySocket?
    /// How often to send WATCHDOG=1: half of `WATCHDOG_USEC`, when it is set for this process.
    var watchdogInterval: Duration?

    init(_ environment: [String: String], pid: Int32) {
        socket = environment["NOTIFY_SOCKET"].flatMap(NotifySocket.init)
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
           environment["WATCHDOG_PID"].map({ Int32($0) == pid }) ?? true {
            watchdogInterval = .microseconds(Int64(clamping: usec / 2))
        }
    }

    /// Reads the variables and removes them, so the workers we start do not think they are
    /// the ones systemd watches.
    static func takeFromProcess() -> SystemdNotifyEnvironment {
        let found = SystemdNotifyEnvironment(ProcessInfo.processInfo.environment, pid: getpid())
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] { unsetenv(name) }
        return found
    }
}

/// Opens once `count` parts have signalled (the supervisor serves when both its health
/// server and its control socket are bound).
final class ReadyGate: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    let count: Int

    init(count: Int) {
        self.count = count
        (stream, continuation) = AsyncStream.makeStream(of: Void.self)
    }

    func signal() { continuation.yield() }

    /// True once open; false if the waiting task is cancelled first. One waiter only.
    func wait() async -> Bool {
        var seen = 0
        for await _ in stream {
            seen += 1
            if seen >= count { return true }
        }
        return false
    }
}

/// The supervisor's side of `Type=notify`: READY=1 when it serves, WATCHDOG=1 at half the
/// watchdog interval while it runs, STOPPING=1 when the graceful shutdown begins. Place it
/// last in the service group, so it hears of the shutdown first.
struct SystemdNotifier: Service {
    let socket: NotifySocket
    let watchdogInterval: Duration?
    let ready: ReadyGate
    let status: String

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                if await ready.wait() { socket.send("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())") }
            }
            if let watchdogInterval {
                group.addTask {
                    while !Task.isCancelled {
                        socket.send("WATCHDOG=1")
                        try? await Task.sleep(for: watchdogInterval)
                    }
                }
            }
            try? await gracefulShutdown()
            socket.send("STOPPING=1\nSTATUS=draining")
            group.cancelAll()
        }
    }
}
