import Foundation
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket the supervisor owns and hands to its workers as fd 3. While a
/// worker restarts, new connections wait in this socket's backlog instead of being refused.
final class ListenerSocket: Sendable {
    let fd: CInt
    /// The address actually bound (the OS's port when 0 was asked for).
    let bound: ListenAddress
    let backlog: Int32

    struct BindError: Error, CustomStringConvertible {
        var description: String
    }

    init(binding address: ListenAddress, backlog: Int32 = 1024) throws {
        let isV6 = address.host.contains(":")
        let family = isV6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BindError(description: "socket(): \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var result: Int32
        if isV6 {
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = in_port_t(UInt16(address.port).bigEndian)
            guard inet_pton(AF_INET6, address.host, &addr.sin6_addr) == 1 else {
                Glibc.close(fd)
                throw BindError(description: "'\(address.host)' is not an IPv6 address")
            }
            result = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(address.port).bigEndian)
            let host = address.host == "localhost" ? "127.0.0.1" : address.host
            guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
                Glibc.close(fd)
                throw BindError(description: "'\(address.host)' is not an IPv4 address")
            }
            result = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard result == 0 else {
            let reason = errno == EADDRINUSE ? "address already in use" : String(cString: strerror(errno))
            Glibc.close(fd)
            throw BindError(description: "cannot listen on \(address): \(reason)")
        }
        guard listen(fd, backlog) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw BindError(description: "listen() on \(address): \(reason)")
        }
        self.fd = fd
        self.backlog = backlog
        self.bound = ListenAddress(host: address.host, port: Self.localPort(fd) ?? address.port)
    }

    private static func localPort(_ fd: CInt) -> Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard ok == 0 else { return nil }
        return withUnsafePointer(to: &storage) { ptr -> Int? in
            switch Int32(ptr.pointee.ss_family) {
            case AF_INET: return ptr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            case AF_INET6: return ptr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            default: return nil
            }
        }
    }

    func closeSocket() {
        _ = Glibc.close(fd)
    }
}
