import Foundation
import NIOCore
import NIOHTTP1

/// One fully received HTTP request: head plus the whole body (bounded by the server's `maxBodySize`).
public struct ServerRequest: Sendable {
    public var method: HTTPMethod
    public var uri: String
    public var headers: HTTPHeaders
    public var body: ByteBuffer
    public var version: HTTPVersion
    public var remoteAddress: SocketAddress?
    /// Holds this request's place under the server's `maxConcurrentRequests` until dropped.
    var admission: RequestAdmission.Ticket?

    public init(
        method: HTTPMethod,
        uri: String,
        headers: HTTPHeaders = [:],
        body: ByteBuffer = ByteBuffer(),
        version: HTTPVersion = .http1_1,
        remoteAddress: SocketAddress? = nil
    ) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        self.version = version
        self.remoteAddress = remoteAddress
    }

    /// Runs `body` on the request body as `Data` without copying it (a 10 MiB body is not
    /// duplicated to be decoded). The `Data` must not escape.
    public func withBodyData<T, E: Error>(_ body: (Data) throws(E) -> T) throws(E) -> T {
        let result: Result<T, E> = self.body.withUnsafeReadableBytes { bytes in
            let data = bytes.baseAddress.map {
                Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: $0), count: bytes.count, deallocator: .none)
            } ?? Data()
            do throws(E) { return .success(try body(data)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// The path without the query string.
    public var path: String {
        guard let q = uri.firstIndex(of: "?") else { return uri }
        return String(uri[..<q])
    }

    /// Query parameters (last one wins, `+` and percent escapes decoded).
    public var query: [String: String] {
        guard let q = uri.firstIndex(of: "?") else { return [:] }
        var result: [String: String] = [:]
        for pair in uri[uri.index(after: q)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = Self.decode(parts[0])
            result[key] = parts.count > 1 ? Self.decode(parts[1]) : ""
        }
        return result
    }

    private static func decode(_ s: Substring) -> String {
        let plusless = s.replacingOccurrences(of: "+", with: " ")
        return plusless.removingPercentEncoding ?? plusless
    }
}
