/// A TCP listen address from the fleet file: `HOST:PORT`, `:PORT` (all IPv4 interfaces) or
/// `[IPv6]:PORT`. Encoded in JSON as its `description` string.
public struct ListenAddress: Sendable, Hashable, Codable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`, `:PORT` (host `0.0.0.0`) or `[IPv6]:PORT` (host without brackets).
    /// The port must be 0...65535; a bare IPv6 address without brackets is rejected.
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        let hostPart = text[..<colon]
        let portPart = text[text.index(after: colon)...]
        guard !portPart.isEmpty, portPart.count <= 5,
              portPart.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let port = Int(portPart), port <= 65535 else { return nil }
        var host: String
        if hostPart.hasPrefix("[") {
            guard hostPart.hasSuffix("]"), hostPart.count > 2 else { return nil }
            host = String(hostPart.dropFirst().dropLast())
            guard host.contains(":"),
                  host.unicodeScalars.allSatisfy({ Self.ipv6Characters.contains($0) }) else { return nil }
        } else if hostPart.isEmpty {
            host = "0.0.0.0"
        } else {
            host = String(hostPart)
            guard host.unicodeScalars.allSatisfy({ Self.hostCharacters.contains($0) }),
                  !host.hasPrefix("-"), !host.hasPrefix(".") else { return nil }
        }
        self.init(host: host, port: port)
    }

    /// `host:port`, with an IPv6 host in brackets (`[::1]:80`).
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// True for `0.0.0.0` and `::` (every interface).
    public var isWildcard: Bool {
        host == "0.0.0.0" || host == "::" || host == "0:0:0:0:0:0:0:0"
    }

    /// Whether binding both addresses would collide: same nonzero port, and the same host or
    /// either one a wildcard. Port 0 (pick any free port) never conflicts.
    public func conflicts(with other: ListenAddress) -> Bool {
        guard port != 0, port == other.port else { return false }
        return isWildcard || other.isWildcard || host.lowercased() == other.host.lowercased()
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let address = ListenAddress(parsing: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "invalid listen address '\(text)'")
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static let hostCharacters: Set<Unicode.Scalar> = Set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_".unicodeScalars)
    private static let ipv6Characters: Set<Unicode.Scalar> = Set(
        "0123456789abcdefABCDEF:.%".unicodeScalars).union(hostCharacters)
}
