import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

typealias ClientChannel = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
typealias ResponseIterator = NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator

/// Opens plain HTTP/1.1 connections to one target. No pool, no retries, no hidden waits: a
/// refused connection is reported as refused at once (AsyncHTTPClient would retry it until the
/// deadline), which is what the restart scenarios must see.
struct Connector: Sendable {
    let target: Target
    let connectTimeout: TimeAmount
    let group: any EventLoopGroup

    init(target: Target, connectTimeout: TimeAmount, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.target = target
        self.connectTimeout = connectTimeout
        self.group = group
    }

    func connect(timeout: TimeAmount? = nil) async throws -> ClientChannel {
        try await ClientBootstrap(group: group)
            .connectTimeout(min(timeout ?? connectTimeout, connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(to: target.address) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try ClientChannel(wrappingChannelSynchronously: channel)
                }
            }
    }
}

/// Set by the timer that closes a channel whose request took too long.
final class TimeoutFlag: Sendable {
    private let fired = Atomic<Bool>(false)
    func fire() { fired.store(true, ordering: .relaxed) }
    var isFired: Bool { fired.load(ordering: .relaxed) }
}

/// What one request/response exchange on an open connection produced.
struct Exchange: Sendable {
    var outcome: Outcome
    /// Monotonic time the response head arrived.
    var headAt: UInt64?
    /// Monotonic time the exchange ended (answer complete or failure seen).
    var endAt: UInt64
    /// Whether the connection may carry another request.
    var reusable: Bool
    var bodyBytes: Int
}

/// Sends `request` on an open connection and reads the answer to its end. `onBody` sees every
/// body chunk with its arrival time. A timeout closes the channel (it is not reusable then).
func exchange(
    _ request: PreparedRequest,
    iterator: inout ResponseIterator,
    outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>,
    channel: any Channel,
    timeout: TimeAmount?,
    onHead: (HTTPResponseHead, UInt64) -> Void = { _, _ in },
    onBody: (ByteBuffer, UInt64) -> Void = { _, _ in }
) async -> Exchange {
    let flag = TimeoutFlag()
    let timer: Scheduled<Void>? = timeout.map { amount in
        channel.eventLoop.scheduleTask(in: amount) {
            flag.fire()
            channel.close(promise: nil)
        }
    }
    defer { timer?.cancel() }

    var status: HTTPResponseStatus?
    var keepAlive = false
    var headAt: UInt64?
    var bytes = 0
    do {
        try await outbound.write(contentsOf: request.parts)
        while let part = try await iterator.next() {
            let now = Clock.nanos()
            switch part {
            case .head(let head):
                status = head.status
                keepAlive = head.isKeepAlive
                headAt = now
                onHead(head, now)
            case .body(let buffer):
                bytes += buffer.readableBytes
                onBody(buffer, now)
            case .end:
                let outcome = status.map(Outcome.from(status:)) ?? .badResponse
                return Exchange(outcome: outcome, headAt: headAt, endAt: now, reusable: keepAlive && !flag.isFired, bodyBytes: bytes)
            }
        }
        return Exchange(outcome: flag.isFired ? .timeout : .closed, headAt: headAt, endAt: Clock.nanos(), reusable: false, bodyBytes: bytes)
    } catch {
        let outcome = flag.isFired ? .timeout : Outcome.classify(error)
        return Exchange(outcome: outcome, headAt: headAt, endAt: Clock.nanos(), reusable: false, bodyBytes: bytes)
    }
}

/// Splits a body into lines as bytes arrive and hands every complete `data:` payload to the
/// caller with the arrival time of the chunk that completed it.
struct SSEScanner {
    private var partial: [UInt8] = []

    mutating func feed(_ buffer: ByteBuffer, _ onData: (String) -> Void) {
        buffer.withUnsafeReadableBytes { bytes in
            for byte in bytes {
                if byte == UInt8(ascii: "\n") {
                    if partial.last == UInt8(ascii: "\r") { partial.removeLast() }
                    emit(onData)
                    partial.removeAll(keepingCapacity: true)
                } else {
                    partial.append(byte)
                }
            }
        }
    }

    private func emit(_ onData: (String) -> Void) {
        let prefix: [UInt8] = Array("data:".utf8)
        guard partial.count >= prefix.count, partial[0..<prefix.count].elementsEqual(prefix) else { return }
        var payload = partial[prefix.count...]
        if payload.first == UInt8(ascii: " ") { payload = payload.dropFirst() }
        onData(String(decoding: payload, as: UTF8.self))
    }
}

/// Hands out request numbers to lanes.
final class Ticket: Sendable {
    private let value = Atomic<Int>(0)
    /// The next number, starting at 0.
    func take() -> Int { value.add(1, ordering: .relaxed).oldValue }
}
