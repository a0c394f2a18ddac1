import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import Testing
@testable import WorkerCore

/// The chat path's pooled HTTP/1.1 client against a scripted server on loopback.
@Suite struct UpstreamPoolTests {
    /// What the scripted server answers one request with (raw bytes), and whether it then
    /// closes the connection.
    struct Reply: Sendable {
        var bytes: String
        var close = false
        /// Never answer (for deadlines).
        var silent = false
        /// Bytes sent 100 ms after the rest.
        var later: String? = nil
    }

    /// Connections accepted and requests seen (head and body, as text).
    final class Record: Sendable {
        let state = Mutex<(connections: Int, requests: [String])>((0, []))
        var connections: Int { state.withLock { $0.connections } }
        var requests: [String] { state.withLock { $0.requests } }
    }

    /// A server that answers each request as `script` says.
    final class ScriptedServer: Sendable {
        let channel: any Channel
        let record = Record()
        var port: Int { channel.localAddress!.port! }

        init(tls: NIOSSLContext? = nil, script: @escaping @Sendable (Int) -> Reply) async throws {
            let record = self.record
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    record.state.withLock { $0.connections += 1 }
                    return channel.eventLoop.makeCompletedFuture {
                        if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                        try channel.pipeline.syncOperations.addHandler(Handler(record: record, script: script))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
        }

        func close() async { try? await channel.close() }

        final class Handler: ChannelInboundHandler {
            typealias InboundIn = ByteBuffer
            typealias OutboundOut = ByteBuffer
            let record: Record
            let script: @Sendable (Int) -> Reply
            var pending: [UInt8] = []
            init(record: Record, script: @escaping @Sendable (Int) -> Reply) {
                self.record = record
                self.script = script
            }

            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                pending += Array(buffer: unwrapInboundIn(data))
                let separator = Array("\r\n\r\n".utf8)
                while let end = (0..<max(0, pending.count - 3)).first(where: { Array(pending[$0..<($0 + 4)]) == separator }) {
                    let head = String(decoding: pending[..<end], as: UTF8.self)
                    let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                    guard pending.count >= end + 4 + length else { return }
                    let body = String(decoding: pending[(end + 4)..<(end + 4 + length)], as: UTF8.self)
                    pending.removeFirst(end + 4 + length)
                    let index = record.state.withLock { s -> Int in
                        s.requests.append(head + "\r\n\r\n" + body)
                        return s.requests.count - 1
                    }
                    let reply = script(index)
                    if reply.silent { continue }
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply.bytes)), promise: nil)
                    if let later = reply.later {
                        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                        context.eventLoop.scheduleTask(in: .milliseconds(100)) {
                            bound.value.writeAndFlush(NIOAny(ByteBuffer(string: later)), promise: nil)
                        }
                    }
                    if reply.close { context.close(promise: nil) }
                }
            }
        }
    }

    static func ok(_ body: String, extraHeaders: String = "") -> String {
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: \(body.utf8.count)\r\n\(extraHeaders)\r\n\(body)"
    }

    static func chunked(_ pieces: [String]) -> String {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + pieces.map { String($0.utf8.count, radix: 16) + "\r\n" + $0 + "\r\n" }.joined() + "0\r\n\r\n"
    }

    func pool(_ server: ScriptedServer, scheme: String = "http", host: String = "127.0.0.1", prefix: String = "", trustRoots: NIOSSLTrustRoots = .default) throws -> UpstreamPool {
        let origin = try #require(UpstreamOrigin(url: "\(scheme)://\(host):\(server.port)\(prefix)"))
        return UpstreamPool(origin: origin, connectTimeout: .seconds(5), trustRoots: trustRoots)
    }

    func post(_ pool: UpstreamPool, body: String = #"{"q":1}"#, within: TimeAmount = .seconds(10)) async throws -> (HTTPResponseStatus, String) {
        var headers = HTTPHeaders()
        headers.add(name: "grazie-agent", value: "test")
        let exchange = try await pool.post(path: "/chat", headers: headers, body: ByteBuffer(string: body), deadline: .now() + within)
        let status = exchange.status
        return (status, String(buffer: try await exchange.collect(upTo: 1 << 20)))
    }

    /// Waits (with a deadline) until `condition` holds.
    func eventually(_ what: Comment, within seconds: Double = 5, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("not within \(seconds) s: \(what)")
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func keepAliveConnectionsAreReused() async throws {
        let server = try await ScriptedServer { i in Reply(bytes: Self.ok("answer \(i)")) }
        let pool = try pool(server, prefix: "/base")
        for i in 0..<3 {
            let (status, body) = try await post(pool)
            #expect(status == .ok)
            #expect(body == "answer \(i)")
            try await eventually("the connection is parked again") { pool.idleCount == 1 }
        }
        #expect(server.record.connections == 1)
        let first = try #require(server.record.requests.first)
        #expect(first.hasPrefix("POST /base/chat HTTP/1.1\r\n"))
        #expect(first.contains("Host: 127.0.0.1:\(server.port)\r\n"))
        #expect(first.contains("grazie-agent: test\r\n"))
        #expect(first.hasSuffix("Content-Length: 7\r\n\r\n{\"q\":1}"))
        pool.shutdown()
        await server.close()
    }

    @Test func chunkedAndCloseDelimitedBodiesAreReadWhole() async throws {
        let server = try await ScriptedServer { i in
            i == 0 ? Reply(bytes: Self.chunked(["data: a\n\n", "data: b\n\n", "data: end\n\n"]))
                : Reply(bytes: "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", close: true)
        }
        let pool = try pool(server)
        #expect(try await post(pool).1 == "data: a\n\ndata: b\n\ndata: end\n\n")
        try await eventually("the connection is parked") { pool.idleCount == 1 }
        #expect(try await post(pool).1 == "until the end")
        // `Connection: close`: that one is not parked.
        try await eventually("the closed connection leaves the pool") { pool.idleCount == 0 }
        #expect(server.record.connections == 1)
        pool.shutdown()
        await server.close()
    }

    @Test func aConnectionTheServerClosedWhileIdleIsNotUsedAgain() async throws {
        let server = try await ScriptedServer { _ in Reply(bytes: Self.ok("fine"), close: true) }
        let pool = try pool(server)
        for _ in 0..<3 {
            let (status, body) = try await post(pool)
            #expect(status == .ok && body == "fine")
        }
        #expect(server.record.connections == 3)
        #expect(server.record.requests.count == 3)
        pool.shutdown()
        await server.close()
    }

    @Test func theDeadlineEndsAnExchangeTheServerNeverAnswers() async throws {
        let server = try await ScriptedServer { _ in Reply(bytes: "", silent: true) }
        let pool = try pool(server)
        let started = ContinuousClock.now
        await #expect(throws: UpstreamExchangeError.deadlineExceeded) { _ = try await post(pool, within: .milliseconds(200)) }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(pool.idleCount == 0)
        pool.shutdown()
        await server.close()
    }

    @Test func aDeadlineAlreadyPastIsADeadlineFailureOnAReusedConnectionToo() async throws {
        let server = try await ScriptedServer { _ in Reply(bytes: Self.ok("fine")) }
        let pool = try pool(server)
        #expect(try await post(pool).1 == "fine")
        try await eventually("the connection is parked") { pool.idleCount == 1 }
        // Whether the timer or the write runs first, the answer is the deadline, not a closed connection.
        await #expect(throws: UpstreamExchangeError.deadlineExceeded) { _ = try await post(pool, within: .zero) }
        await #expect(throws: UpstreamExchangeError.deadlineExceeded) { _ = try await post(pool, within: .zero) }
        pool.shutdown()
        await server.close()
    }

    @Test func anAnswerCutBeforeItsEndIsAFailureNotAShortBody() async throws {
        let server = try await ScriptedServer { _ in Reply(bytes: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", close: true) }
        let pool = try pool(server)
        await #expect(throws: UpstreamExchangeError.self) { _ = try await post(pool) }
        pool.shutdown()
        await server.close()
    }

    @Test func anExchangeDroppedBeforeItsEndClosesItsConnection() async throws {
        // The body's end never comes: the connection cannot be reused.
        let server = try await ScriptedServer { _ in Reply(bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n") }
        let pool = try pool(server)
        do {
            let exchange = try await pool.post(path: "/chat", headers: [:], body: ByteBuffer(string: "{}"), deadline: .now() + .seconds(10))
            #expect(try await exchange.next().map { String(buffer: $0) } == "hello")
        }
        #expect(pool.idleCount == 0)
        let (status, _) = try await {
            // A second exchange cannot be handed the half-read connection.
            let exchange = try await pool.post(path: "/chat", headers: [:], body: ByteBuffer(string: "{}"), deadline: .now() + .seconds(10))
            return (exchange.status, ())
        }()
        #expect(status == .ok)
        #expect(server.record.connections == 2)
        pool.shutdown()
        await server.close()
    }

    @Test func anAnswerReadOnlyToItsLastEventStillGivesItsConnectionBack() async throws {
        // `data: end` comes in one chunk, the chunked body's last chunk a moment later (as a
        // streaming upstream sends them): the reader stops at the event, the pool reads the rest.
        let server = try await ScriptedServer { _ in
            Reply(bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\ndata: end\n\n\r\n", later: "0\r\n\r\n")
        }
        let pool = try pool(server)
        for _ in 0..<2 {
            do {
                let exchange = try await pool.post(path: "/chat", headers: [:], body: ByteBuffer(string: "{}"), deadline: .now() + .seconds(10))
                #expect(try await exchange.next().map { String(buffer: $0) } == "data: end\n\n")
            }
            try await eventually("the connection is parked once its answer ended") { pool.idleCount == 1 }
        }
        #expect(server.record.connections == 1)
        pool.shutdown()
        await server.close()
    }

    @Test func aRefusedConnectionIsAConnectFailure() async throws {
        let server = try await ScriptedServer { _ in Reply(bytes: "") }
        let port = server.port
        await server.close()
        let pool = UpstreamPool(origin: try #require(UpstreamOrigin(url: "http://127.0.0.1:\(port)")), connectTimeout: .seconds(5))
        await #expect {
            _ = try await pool.post(path: "/", headers: [:], body: ByteBuffer(), deadline: .now() + .seconds(5))
        } throws: { error in
            guard case .connectFailed? = error as? UpstreamExchangeError else { return false }
            return true
        }
    }

    // MARK: - TLS

    static let certificate = """
    -----BEGIN CERTIFICATE-----
    MIIBljCCATugAwIBAgIUBoljN5j0KKWZk0jukf8Mn6YpLTwwCgYIKoZIzj0EAwIw
    FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMTE4MDQ0MloYDzIxMjYxMTA3
    MTgwNDQyWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
    PQMBBwNCAASZvRKepeY2N9uIX2Cqn1Nayi5JUQqOdz+YQFZBxFrzA6QvM2DgAIRD
    vzD4UgVfbqhpGpy3zAGm71CpjvpOkkdwo2kwZzAdBgNVHQ4EFgQUSgzH7BaN5GER
    P2riaZiujV7dHxMwHwYDVR0jBBgwFoAUSgzH7BaN5GERP2riaZiujV7dHxMwDwYD
    VR0TAQH/BAUwAwEB/zAUBgNVHREEDTALgglsb2NhbGhvc3QwCgYIKoZIzj0EAwID
    SQAwRgIhAJ+BTnrnDNhiLy/SqYcaKPg4nxu14jje7105TtTUGuV/AiEAycwP1dil
    MkbQvNBNVeo3rR7/4EIl+KGZQqYr0/WQgTs=
    -----END CERTIFICATE-----
    """
    /// A throwaway key for the test server's self-signed `localhost` certificate above.
    static let privateKey = """
    -----BEGIN PRIVATE KEY-----
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFwTMCYyLQh3IGpE3
    mvulUsjoJzezmvSpS/ybNDw7xyWhRANCAASZvRKepeY2N9uIX2Cqn1Nayi5JUQqO
    dz+YQFZBxFrzA6QvM2DgAIRDvzD4UgVfbqhpGpy3zAGm71CpjvpOkkdw
    -----END PRIVATE KEY-----
    """

    func tlsServer() async throws -> (ScriptedServer, NIOSSLCertificate) {
        let certificate = try NIOSSLCertificate(bytes: Array(Self.certificate.utf8), format: .pem)
        let key = try NIOSSLPrivateKey(bytes: Array(Self.privateKey.utf8), format: .pem)
        let context = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: [.certificate(certificate)], privateKey: .privateKey(key)))
        return (try await ScriptedServer(tls: context) { _ in Reply(bytes: Self.ok("over TLS")) }, certificate)
    }

    @Test func tlsVerifiesTheCertificate() async throws {
        let (server, certificate) = try await tlsServer()
        // Not trusted (self-signed): refused.
        let untrusting = try pool(server, scheme: "https", host: "localhost")
        await #expect {
            _ = try await post(untrusting)
        } throws: { error in
            guard case .connectFailed(let why)? = error as? UpstreamExchangeError else { return false }
            return why.hasPrefix("TLS")
        }
        // Trusted: the same server answers, and the connection is reused.
        let trusting = try pool(server, scheme: "https", host: "localhost", trustRoots: .certificates([certificate]))
        #expect(try await post(trusting).1 == "over TLS")
        try await eventually("the TLS connection is parked") { trusting.idleCount == 1 }
        #expect(try await post(trusting).1 == "over TLS")
        untrusting.shutdown()
        trusting.shutdown()
        await server.close()
    }

    @Test func originsItTakesAndLeaves() {
        #expect(UpstreamOrigin(url: "https://api.jetbrains.ai")?.hostHeader == "api.jetbrains.ai")
        #expect(UpstreamOrigin(url: "https://api.jetbrains.ai:8443/x/")?.pathPrefix == "/x")
        #expect(UpstreamOrigin(url: "http://[::1]:8080")?.host == "::1")
        #expect(UpstreamOrigin(url: "http://[::1]:8080")?.hostHeader == "[::1]:8080")
        #expect(UpstreamOrigin(url: "http://127.0.0.1")?.port == 80)
        // TLS to an IP address has no name to verify: left to AsyncHTTPClient.
        #expect(UpstreamOrigin(url: "https://10.0.0.1") == nil)
        #expect(UpstreamOrigin(url: "ftp://host") == nil)
        #expect(UpstreamOrigin(url: "http://user:pw@host") == nil)
        #expect(UpstreamOrigin(url: "http://host:99999") == nil)
    }
}
