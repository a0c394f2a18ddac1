import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Shared

/// Speaks to JetBrains AI (or the simulator): chat, quota, license. TLS verification is on
/// (AsyncHTTPClient's default); plain `http://` is accepted for the simulator on loopback.
final class UpstreamClient: Sendable {
    /// What a current PyCharm sends (public clients send 251.x–253.x builds); `grazie_agent`
    /// overrides it per tenant.
    static let defaultAgent = #"{"name":"aia:pycharm","version":"253.29346.138:253.29346.240"}"#

    let http: HTTPClient
    /// The chat path's own pooled client; nil through an `outbound_proxy` or for a base URL it
    /// does not take (see `UpstreamOrigin`), where chats go through `http` too.
    let chatPool: UpstreamPool?
    let baseURL: String
    let apiVersion: APIVersion
    let agent: String
    let requestTimeout: TimeAmount
    /// JetBrains Account OAuth base URL (refresh-token exchange).
    let accountURL: String

    /// `outboundProxy` (`http://[user:password@]host:port`, validated by the config loader)
    /// carries every call of this client, OAuth included, through an HTTP CONNECT tunnel.
    init(
        baseURL: String, apiVersion: APIVersion, agent: String?, connectTimeout: Duration, requestTimeout: Duration,
        accountURL: String = TenantDefaults.accountURL, outboundProxy: String? = nil
    ) {
        var configuration = HTTPClient.Configuration(
            timeout: .init(connect: TimeAmount(connectTimeout)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 2048)
        )
        configuration.httpVersion = .automatic
        // No tracing: without a tracer bootstrapped the client would still build a no-op span
        // and parse every request's URL for its attributes (~2 % of a request's CPU).
        configuration.tracing.tracer = nil
        configuration.proxy = outboundProxy.flatMap(OutboundProxy.init(parsing:)).map(Self.proxyConfiguration)
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let trimmed = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.chatPool = outboundProxy == nil
            ? UpstreamOrigin(url: trimmed).map { UpstreamPool(origin: $0, connectTimeout: TimeAmount(connectTimeout)) }
            : nil
        self.accountURL = accountURL.hasSuffix("/") ? String(accountURL.dropLast()) : accountURL
        self.baseURL = trimmed
        self.apiVersion = apiVersion
        self.agent = agent ?? Self.defaultAgent
        self.requestTimeout = TimeAmount(requestTimeout)
    }

    static func proxyConfiguration(_ proxy: OutboundProxy) -> HTTPClient.Configuration.Proxy {
        .server(
            host: proxy.host, port: proxy.port,
            authorization: proxy.basicCredentials.map { .basic(username: $0.username, password: $0.password) })
    }

    func shutdown() async {
        chatPool?.shutdown()
        try? await http.shutdown()
    }

    /// The headers of every POST to the upstream (JetBrains' own client sends these).
    private func postHeaders(jwt: String?) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(8)
        if let jwt { headers.add(name: "grazie-authenticate-jwt", value: jwt) }
        headers.add(name: "grazie-agent", value: agent)
        headers.add(name: "User-Agent", value: "ktor-client")
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Accept-Charset", value: "UTF-8")
        headers.add(name: "Cache-Control", value: "no-cache")
        return headers
    }

    private func request(path: String, jwt: String?, body: ByteBuffer) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers = postHeaders(jwt: jwt)
        request.body = .bytes(body)
        return request
    }

    var chatPath: String { "/user/v5/llm/chat/stream/\(apiVersion.rawValue)" }
    /// Codex profiles answer only here (same body as chat, no tools or parameters).
    static let responsesPath = "/user/v5/llm/responses/stream/v8"

    /// Starts a chat; the caller reads the streamed body. The deadline covers the whole exchange.
    func chat(_ body: ByteBuffer, jwt: String, codex: Bool = false, deadline: NIODeadline) async throws -> ChatResponse {
        let path = codex ? Self.responsesPath : chatPath
        if let chatPool {
            var headers = postHeaders(jwt: jwt)
            headers.add(name: "Accept", value: "text/event-stream")
            let exchange = try await chatPool.post(path: path, headers: headers, body: body, deadline: deadline)
            return ChatResponse(status: exchange.status, headers: exchange.headers, body: .pooled(exchange))
        }
        var request = request(path: path, jwt: jwt, body: body)
        request.headers.add(name: "Accept", value: "text/event-stream")
        let response = try await http.execute(request, deadline: deadline)
        return ChatResponse(status: response.status, headers: response.headers, body: .client(response.body))
    }

    /// The active probe: `POST /user/v5/quota/get`, which spends no LLM quota.
    func quota(jwt: String) async throws -> QuotaAnswer {
        var request = request(path: "/user/v5/quota/get", jwt: jwt, body: ByteBuffer(string: "{}"))
        request.headers.add(name: "Accept", value: "application/json")
        let deadline = NIODeadline.now() + min(requestTimeout, .seconds(30))
        let response = try await http.execute(request, deadline: deadline)
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else {
            return .status(Int(response.status.code), retryAfter: Self.retryAfter(response.headers))
        }
        return QuotaAnswer.parse(Data(body.readableBytesView))
    }

    /// The profiles this JWT may use: `GET /user/v5/llm/profiles/v3`. Spends no quota.
    func profiles(jwt: String) async throws -> ProfilesAnswer {
        var request = HTTPClientRequest(url: baseURL + "/user/v5/llm/profiles/v3")
        request.method = .GET
        request.headers.add(name: "grazie-authenticate-jwt", value: jwt)
        request.headers.add(name: "grazie-agent", value: agent)
        request.headers.add(name: "User-Agent", value: "ktor-client")
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await http.execute(request, deadline: .now() + min(requestTimeout, .seconds(30)))
        let body = try await response.body.collect(upTo: 4 << 20)
        guard response.status == .ok else { return .status(Int(response.status.code)) }
        guard let ids = ProfileCatalog.parseProfiles(Data(body.readableBytesView)) else { return .unreadable }
        return .profiles(ids)
    }

    enum ProfilesAnswer: Sendable, Equatable {
        case profiles([String])
        case status(Int)
        case unreadable
    }

    /// Fetches a JWT for a license: `POST /auth/jetbrains-jwt/provide-access/license/v2`.
    /// Throws `LicenseError` (with the status for a non-200 answer).
    func licenseJWT(licenseID: String, authorization: String) async throws -> String {
        struct Body: Encodable { var licenseId: String }
        let body = try JSONEncoder().encode(Body(licenseId: licenseID))
        var request = request(path: "/auth/jetbrains-jwt/provide-access/license/v2", jwt: nil, body: ByteBuffer(bytes: body))
        request.headers.add(name: "Authorization", value: "Bearer " + authorization)
        request.headers.add(name: "Accept", value: "application/json")
        let response = try await http.execute(request, deadline: .now() + min(requestTimeout, .seconds(30)))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        return try LicenseAnswer.parse(status: Int(response.status.code), body: text)
    }

    /// Exchanges a refresh token for an id token: `POST <account_url>/api/rest/oauth2/token`.
    /// Throws `OAuthError` for a refusal or an unusable answer.
    func exchangeRefreshToken(_ refreshToken: String) async throws -> OAuthTokenAnswer {
        var request = HTTPClientRequest(url: accountURL + OAuthToken.path)
        request.method = .POST
        request.headers.add(name: "User-Agent", value: "ktor-client")
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: OAuthToken.formBody(refreshToken: refreshToken)))
        let response = try await http.execute(request, deadline: .now() + min(requestTimeout, .seconds(30)))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        return try OAuthToken.parse(status: Int(response.status.code), body: text)
    }

    static func retryAfter(_ headers: HTTPHeaders) -> TimeInterval? {
        guard let value = headers.first(name: "retry-after") else { return nil }
        if let seconds = TimeInterval(value.trimmingCharacters(in: .whitespaces)) { return max(0, seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: value).map { max(0, $0.timeIntervalSinceNow) }
    }
}

/// A chat's answer, from the pooled client or AsyncHTTPClient.
struct ChatResponse: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: Body

    enum Body: Sendable, AsyncSequence {
        case pooled(UpstreamExchange)
        case client(HTTPClientResponse.Body)

        typealias Element = ByteBuffer

        struct AsyncIterator: AsyncIteratorProtocol {
            fileprivate var pooled: UpstreamExchange?
            fileprivate var client: HTTPClientResponse.Body.AsyncIterator?

            mutating func next() async throws -> ByteBuffer? {
                if let pooled { return try await pooled.next() }
                return try await client?.next()
            }
        }

        func makeAsyncIterator() -> AsyncIterator {
            switch self {
            case .pooled(let exchange): return AsyncIterator(pooled: exchange)
            case .client(let body): return AsyncIterator(client: body.makeAsyncIterator())
            }
        }

        func collect(upTo limit: Int) async throws -> ByteBuffer {
            switch self {
            case .pooled(let exchange): return try await exchange.collect(upTo: limit)
            case .client(let body): return try await body.collect(upTo: limit)
            }
        }
    }
}

/// Reads `exp` (Unix seconds) from a JWT's payload without verifying it.
func jwtExpiry(_ jwt: String) -> Date? { jwtTime(jwt, claim: "exp") }

/// Reads `iat` (Unix seconds) from a JWT's payload without verifying it.
func jwtIssuedAt(_ jwt: String) -> Date? { jwtTime(jwt, claim: "iat") }

/// A time claim (Unix seconds) of a JWT's payload, unverified.
private func jwtTime(_ jwt: String, claim: String) -> Date? {
    let parts = jwt.split(separator: ".")
    guard parts.count >= 2 else { return nil }
    var b64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while b64.count % 4 != 0 { b64 += "=" }
    guard let data = Data(base64Encoded: b64),
          let json = try? JSONDecoder().decode(JSONValue.self, from: data),
          case .number(let seconds)? = json[claim]
    else { return nil }
    return Date(timeIntervalSince1970: seconds)
}
