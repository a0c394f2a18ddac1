import Foundation

/// A tenant's `outbound_proxy`: an HTTP proxy that every upstream call goes through with
/// `CONNECT` (the upstream's TLS runs inside the tunnel). Written
/// `http://[user:password@]host:port`; user and password may be percent-encoded and are
/// secrets (see `redacted`).
public struct OutboundProxy: Sendable, Equatable, Hashable {
    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?

    public init(host: String, port: Int, username: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
    }

    /// Why `text` is not a usable proxy URL; nil when it is. Never quotes the credentials.
    public static func problem(_ text: String) -> String? {
        switch parse(text) {
        case .success: return nil
        case .failure(let problem): return problem.message
        }
    }

    /// Parses `http://[user:password@]host:port`; nil when malformed.
    public init?(parsing text: String) {
        guard case .success(let proxy) = Self.parse(text) else { return nil }
        self = proxy
    }

    public struct Problem: Error, Sendable { public var message: String }

    public static func parse(_ text: String) -> Result<OutboundProxy, Problem> {
        let value = text.trimmingCharacters(in: .whitespaces)
        let expected = "expected an HTTP proxy: http://[user:password@]host:port"
        guard let components = URLComponents(string: value), let scheme = components.scheme?.lowercased() else {
            return .failure(Problem(message: "not a URL (\(expected))"))
        }
        guard scheme == "http" else {
            if scheme == "https" {
                return .failure(Problem(message: "https:// proxies are not supported: the connection to the proxy is "
                    + "plain HTTP and the upstream's TLS runs inside the CONNECT tunnel (\(expected))"))
            }
            return .failure(Problem(message: "unsupported scheme '\(scheme)' (\(expected))"))
        }
        var host = components.host ?? ""
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return .failure(Problem(message: "the proxy host is missing (\(expected))")) }
        guard let port = components.port else { return .failure(Problem(message: "the proxy port is missing (\(expected))")) }
        guard (1...65535).contains(port) else { return .failure(Problem(message: "port \(port) is out of range 1-65535")) }
        guard components.percentEncodedPath.isEmpty || components.percentEncodedPath == "/",
              components.percentEncodedQuery == nil, components.percentEncodedFragment == nil else {
            return .failure(Problem(message: "a proxy URL has no path, query or fragment (\(expected))"))
        }
        let username = components.user.flatMap { $0.isEmpty ? nil : $0 }
        let password = components.password
        if password != nil && username == nil {
            return .failure(Problem(message: "the proxy password has no user name (\(expected))"))
        }
        return .success(OutboundProxy(host: host, port: port, username: username, password: password))
    }

    /// The URL with its credentials fingerprinted, for `/config` and logs:
    /// `http://ali...:***@proxy.internal:3128`.
    public var redacted: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        guard let username else { return "http://\(shownHost):\(port)" }
        let secret = password == nil ? "" : ":***"
        return "http://\(fingerprint(username))\(secret)@\(shownHost):\(port)"
    }

    /// The value of a `Proxy-Authorization: Basic` credential (`user:password`), if any.
    public var basicCredentials: (username: String, password: String)? {
        username.map { ($0, password ?? "") }
    }
}
