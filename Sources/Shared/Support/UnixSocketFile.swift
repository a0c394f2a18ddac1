#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What is at the path a Unix socket is to be bound at, and the one safe way to clear it: only
/// a socket nobody listens on may be unlinked; any other file (a regular file, the fleet file
/// itself, a folder, a symlink) is an error, and a live socket belongs to someone else.
public enum UnixSocketFile {
    public enum Occupant: Sendable, Equatable {
        case nothing
        /// A socket nothing listens on (left by a process that is gone).
        case staleSocket
        /// A socket a process accepts connections on.
        case liveSocket
        /// Something that is not a socket; `kind` says what, for messages.
        case other(kind: String)
    }

    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// What is at `path` (`lstat`: a symlink is not followed).
    public static func occupant(of path: String) -> Occupant {
        var st = stat()
        guard lstat(path, &st) == 0 else { return .nothing }
        let type = st.st_mode & S_IFMT
        guard type == S_IFSOCK else { return .other(kind: kindName(type)) }
        return accepts(path) ? .liveSocket : .staleSocket
    }

    /// Makes `path` free for a new socket: nothing there, or a stale socket (unlinked). Throws,
    /// touching nothing, for anything else.
    public static func clear(_ path: String, what: String) throws {
        switch occupant(of: path) {
        case .nothing:
            return
        case .staleSocket:
            unlink(path)
        case .liveSocket:
            throw Refusal(description: "\(what) \(escapingControlCharacters(path)) is in use: another process listens on it")
        case .other(let kind):
            throw Refusal(description: "\(what) \(escapingControlCharacters(path)) exists and is \(kind), not a socket; "
                + "refusing to replace it (remove it or choose another path)")
        }
    }

    /// Unlinks `path` only if it is a socket (after a server on it stopped).
    public static func removeIfSocket(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK else { return }
        unlink(path)
    }

    /// Whether a process accepts connections on the socket at `path`.
    public static func accepts(_ path: String) -> Bool {
        let bytes = Array(path.utf8)
        var address = sockaddr_un()
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0
    }

    static func kindName(_ type: mode_t) -> String {
        switch type {
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a folder"
        case S_IFLNK: return "a symbolic link"
        case S_IFIFO: return "a named pipe"
        case S_IFCHR, S_IFBLK: return "a device"
        default: return "a special file"
        }
    }
}
