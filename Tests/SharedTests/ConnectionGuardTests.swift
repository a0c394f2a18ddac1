import NIOCore
import NIOHTTP1
import Testing

@testable import Shared

/// The per-connection timeouts and head-size limit, decided without sockets: each test walks a
/// connection through its events with a hand-driven clock.
@Suite("Connection guard: timeouts and the head limit")
struct ConnectionGuardTests {
    static let limits = ConnectionLimits(
        headerTimeout: .seconds(10), idleTimeout: .seconds(60), bodyTimeout: .seconds(30), maxConnections: 10, maxHeaderSize: 1000
    )
    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    static func at(_ seconds: Double) -> NIODeadline { t0 + .nanoseconds(Int64(seconds * 1e9)) }
    static func head(_ method: HTTPMethod = .POST, headers: HTTPHeaders = ["host": "x"]) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: "/v1/chat/completions", headers: headers)
    }

    @Test func newSilentConnectionIsClosedQuietlyAfterTheHeaderTimeout() {
        let guard_ = ConnectionGuard(limits: Self.limits, acceptedAt: Self.t0)
        #expect(guard_.deadline?.at == Self.at(10))
        #expect(guard_.deadline?.verdict == .close)
        #expect(guard_.timerFired(now: Self.at(9.9)) == .proceed)
        #expect(guard_.timerFired(now: Self.at(10)) == .close)
    }

    @Test func headerTimeoutOfTheFirstRequestRunsFromTheAccept() {
        var guard_ = ConnectionGuard(limits: Self.limits, acceptedAt: Self.t0)
        #expect(guard_.bytesRead(20, partsBefore: 0, now: Self.at(5)) == .proceed)
        #expect(guard_.deadline?.at == Self.at(10))
        #expect(guard_.timerFired(now: Self.at(10)) == .reject(.requestTimeout))
    }

    @Test func keptAliveConnectionIdlesThenGetsItsOwnHeaderTimeout() {
        var guard_ = ConnectionGuard(limits: Self.limits, acceptedAt: Self.t0)
        _ = guard_.head(Self.head(), now: Self.at(1))
        guard_.requestEnded(now: Self.at(1))
        #expect(guard_.deadline == nil, "no client timeout while we answer")
        guard_.responseEnded(now: Self.at(100))
        #expect(guard_.deadline?.at == Self.at(160))
        #expect(guard_.deadline?.verdict == .close)
        _ = guard_.bytesRead(10, partsBefore: 2, now: Self.at(150))
        #expect(guard_.deadline?.at == Self.at(160), "the head's own timeout from its first byte")
        #expect(guard_.deadline?.verdict == .reject(.requestTimeout))
    }

    @Test func bodyTimeoutMeasuresThePauseBetweenPieces() {
        var guard_ = ConnectionGuard(limits: Self.limits, acceptedAt: Self.t0)
        _ = guard_.head(Self.head(), now: Self.at(1))
        #expect(guard_.deadline?.at == Self.at(31))
        guard_.bodyPart(now: Self.at(20))
        #expect(guard_.deadline?.at == Self.at(50))
        #expect(guard_.timerFired(now: Self.at(31)) == .proceed, "an earlier timer finds the deadline moved")
        #expect(guard_.timerFired(now: Self.at(50)) == .reject(.requestTimeout))
    }

    @Test func headStillArrivingPastTheLimitIs431() {
        var guard_ = ConnectionGuard(limits: Self.limits, acceptedAt: Self.t0)
        #expect(guard_.bytesRead(600, partsBefore: 0, now: Self.at(1)) == .proceed)
        #expect(guard_.bytesRead(600, partsBefore: 0, now: Self.at(2)) == .reject(.requestHeaderFieldsTooLarge))
    }

    @Test func aReadThatFinishesAHeadDoesNotCountItsBodyBytes() {
        var guard_ = ConnectionGuard(limits: Self.limits, acceptedAt: Self.t0)
        _ = guard_.head(Self.head(), now: Self.at(1))  // decoded while the read was passed on
        #expect(guard_.bytesRead(60_000, partsBefore: 0, now: Self.at(1)) == .proceed)
    }

    @Test func headThatArrivedWholeIsMeasuredWhenDecoded() {
        var guard_ = ConnectionGuard(limits: Self.limits, acceptedAt: Self.t0)
        let big = Self.head(headers: ["host": "x", "x-filler": String(repeating: "a", count: 1200)])
        #expect(guard_.head(big, now: Self.at(1)) == .reject(.requestHeaderFieldsTooLarge))
        var small = ConnectionGuard(limits: Self.limits, acceptedAt: Self.t0)
        #expect(small.head(Self.head(headers: ["host": "x", "x-filler": String(repeating: "a", count: 800)]), now: Self.at(1)) == .proceed)
    }

    @Test func connectIsRefused() {
        var guard_ = ConnectionGuard(limits: Self.limits, acceptedAt: Self.t0)
        #expect(guard_.head(Self.head(.CONNECT), now: Self.at(1)) == .reject(.methodNotAllowed))
    }

    @Test func noAnswerIsWrittenIntoAResponseUnderWay() {
        var guard_ = ConnectionGuard(limits: Self.limits, acceptedAt: Self.t0)
        _ = guard_.head(Self.head(), now: Self.at(1))
        guard_.requestEnded(now: Self.at(1))
        // A pipelined head too big while the first answer streams: close, do not interleave.
        #expect(guard_.bytesRead(2000, partsBefore: 2, now: Self.at(2)) == .close)
    }

    @Test func theReadThatEndsABodyIsNotCountedAsHeadBytes() {
        var guard_ = ConnectionGuard(limits: Self.limits, acceptedAt: Self.t0)
        _ = guard_.head(Self.head(), now: Self.at(1))
        let before = guard_.partsSeen
        guard_.requestEnded(now: Self.at(2))  // the last 34 KB of a body ended the request
        #expect(guard_.bytesRead(34_000, partsBefore: before, now: Self.at(2)) == .proceed)
    }
}
