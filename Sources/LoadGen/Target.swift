import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1

/// Where the load goes: an `http://` URL resolved once, up front, so that name resolution
/// never shows up in a latency.
struct Target: Sendable {
    let url: String
    let host: String
    let port: Int
    /// Path and query, percent-encoded, as sent in the request line.
    let requestURI: String
    let address: SocketAddress

    init(url text: String) throws {
        guard let components = URLComponents(string: text), components.scheme?.lowercased() == "http",
            let host = components.host, !host.isEmpty
        else { throw ValidationError("--url must be an http:// URL with a host, got '\(text)'") }
        let port = components.port ?? 80
        var uri = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        if let query = components.percentEncodedQuery { uri += "?" + query }
        let bareHost = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.url = text
        self.host = bareHost
        self.port = port
        self.requestURI = uri
        self.address = try SocketAddress.makeAddressResolvingHost(bareHost == "localhost" ? "127.0.0.1" : bareHost, port: port)
    }

    var hostHeader: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? shown : "\(shown):\(port)"
    }
}

/// One request, built once and sent many times.
struct PreparedRequest: Sendable {
    let target: Target
    let head: HTTPRequestHead
    let body: ByteBuffer?

    init(target: Target, method: HTTPMethod, headers extra: [(String, String)], body: ByteBuffer?) {
        var headers = HTTPHeaders()
        headers.add(name: "host", value: target.hostHeader)
        headers.add(name: "user-agent", value: "jbai-loadgen")
        headers.add(name: "accept", value: "*/*")
        for (name, value) in extra { headers.replaceOrAdd(name: name, value: value) }
        if let body {
            headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
            if !headers.contains(name: "content-type") { headers.add(name: "content-type", value: "application/json") }
        } else if method == .POST || method == .PUT {
            headers.replaceOrAdd(name: "content-length", value: "0")
        }
        self.target = target
        self.head = HTTPRequestHead(version: .http1_1, method: method, uri: target.requestURI, headers: headers)
        self.body = body
    }

    /// Head, body and end, written with one flush.
    var parts: [HTTPClientRequestPart] {
        var parts: [HTTPClientRequestPart] = [.head(head)]
        if let body, body.readableBytes > 0 { parts.append(.body(.byteBuffer(body))) }
        parts.append(.end(nil))
        return parts
    }
}

/// The options every subcommand shares: what to send and where.
struct RequestOptions: ParsableArguments {
    @Option(help: "Target URL (http://HOST:PORT/PATH).")
    var url: String

    @Option(name: .customLong("header"), help: ArgumentHelp("A request header 'Name: value' (repeatable).", valueName: "K:V"))
    var headers: [String] = []

    @Option(name: .customLong("body-file"), help: "Send this file as the request body.")
    var bodyFile: String?

    @Option(help: "HTTP method (default: POST with a body, GET without).")
    var method: String?

    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for a TCP connection.")
    var connectTimeout: Double = 5

    func validate() throws {
        for header in headers where Self.splitHeader(header) == nil {
            throw ValidationError("--header must be 'Name: value', got '\(header)'")
        }
        if connectTimeout <= 0 { throw ValidationError("--connect-timeout must be positive") }
    }

    static func splitHeader(_ text: String) -> (String, String)? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let name = text[..<colon].trimmingCharacters(in: .whitespaces)
        let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        return name.isEmpty ? nil : (name, value)
    }

    func prepare() throws -> PreparedRequest {
        let target = try Target(url: url)
        var body: ByteBuffer?
        if let bodyFile {
            guard let data = FileManager.default.contents(atPath: bodyFile) else {
                throw ValidationError("cannot read --body-file \(bodyFile)")
            }
            body = ByteBuffer(bytes: data)
        }
        let methodName = (method ?? (body == nil ? "GET" : "POST")).uppercased()
        return PreparedRequest(
            target: target, method: HTTPMethod(rawValue: methodName),
            headers: headers.compactMap(Self.splitHeader), body: body
        )
    }

    var connectTimeoutAmount: TimeAmount { .nanoseconds(Int64(connectTimeout * 1e9)) }
}
