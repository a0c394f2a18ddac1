import NIOCore

#if canImport(Glibc)
import Glibc

/// Layout of Linux's `struct ucred` (hidden behind _GNU_SOURCE in the C headers).
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// The uid of the process at the other end of a Unix socket connection (SO_PEERCRED).
public func peerUID(of channel: any Channel) async -> uid_t? {
    guard let provider = channel as? any SocketOptionProvider else { return nil }
    let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
        level: SocketOptionLevel(SOL_SOCKET),
        name: SocketOptionName(17)  // SO_PEERCRED
    )
    return try? await future.get().uid
}

/// A connection filter that lets in only peers running as our own uid (or root).
public let sameUserOnly: @Sendable (any Channel) async -> Bool = { channel in
    guard let uid = await peerUID(of: channel) else { return false }
    return uid == getuid() || uid == 0
}
#endif
