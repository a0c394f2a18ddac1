import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Shared

/// One chat, end to end, whatever the front protocol: lease a JWT, call the upstream, fold its
/// events into an answer and hand it to the plan's encoder (streamed or whole), fail over to
/// another JWT while nothing went to the client.
struct ChatProxy: Sendable {
    var pool: TokenPool
    var upstream: UpstreamClient
    var licenses: LicenseManager
    var maxAttempts: Int
    var keepaliveInterval: Duration
    var logger: Logger
    var metrics: WorkerMetrics?

    struct Plan: Sendable {
        var body: ByteBuffer
        var stream: Bool
        /// The front protocol's wire format.
        var encoder: any AnswerEncoder
        /// A Codex profile: sent to the responses endpoint.
        var codex = false
        /// Upstream tool-call id → the client's own (ids over 40 characters were shortened).
        var restoredToolIDs: [String: String] = [:]
        /// A client session to keep on one JWT while it is usable (`X-Claude-Code-Session-Id`).
        var session: String? = nil
    }

    /// Why an attempt did not produce an answer, while the client has seen nothing yet.
    private struct AttemptFailure: Error {
        var outcome: TokenOutcome
        var message: String
        var timedOut = false
        /// Writing to the client failed: stop, nothing to fail over.
        var clientGone = false
        /// The upstream refused the request itself (not the JWT): pass it on, don't retry.
        var passThrough: APIError?
    }

    private enum AttemptResult {
        case answered
        case failed(AttemptFailure)
    }

    func run(_ plan: Plan, writer: ResponseWriter) async throws {
        guard plan.stream else {
            if let error = try await attempts(plan, writer: writer, sink: nil), !writer.headWritten {
                try await respond(error, plan: plan, writer: writer)
            }
            return
        }
        let sink = SSESink(writer: writer, keepAlive: plan.encoder.keepAlive)
        let error = try await withKeepAlive(sink, interval: keepaliveInterval) {
            try await attempts(plan, writer: writer, sink: sink)
        }
        guard let error else { return }
        if await sink.headSent {
            // Keep-alives already sent a 200 head: the error travels as an event.
            try? await sink.finish(plan.encoder.failure(error, started: false))
        } else {
            try await respond(error, plan: plan, writer: writer)
        }
    }

    /// Gives the lease back and counts the attempt's outcome.
    private func complete(_ lease: Lease, outcome: TokenOutcome, error: String? = nil) {
        pool.complete(lease, outcome: outcome, error: error)
        metrics?.attempted(token: lease.name, outcome: outcome.metricLabel)
    }

    private func respond(_ error: APIError, plan: Plan, writer: ResponseWriter) async throws {
        let answer = plan.encoder.response(for: error)
        try await writer.respond(status: answer.status, json: answer.json, headers: answer.headers)
    }

    /// Tries JWTs until one answers; returns the error to give the client when none did.
    private func attempts(_ plan: Plan, writer: ResponseWriter, sink: SSESink?) async throws -> APIError? {
        var tried = Set<String>()
        var lastFailure: AttemptFailure?
        var attempts = 0
        while attempts < maxAttempts {
            try Task.checkCancellation()
            guard let lease = pool.lease(excluding: tried, session: plan.session) else { break }
            attempts += 1
            tried.insert(lease.jwt)
            RequestObservation.current?.attempt(token: lease.name)
            if lastFailure != nil { metrics?.failedOver() }
            let result = await attempt(plan, lease: lease, writer: writer, sink: sink)
            switch result {
            case .answered:
                return nil
            case .failed(let failure):
                if Task.isCancelled || failure.clientGone {
                    complete(lease, outcome: .cancelled)
                    throw CancellationError()
                }
                complete(lease, outcome: failure.outcome, error: failure.message)
                logger.warning(
                    "upstream attempt failed",
                    metadata: ["token": "\(lease.name)", "attempt": "\(attempts)", "error": "\(failure.message)"]
                )
                if let passThrough = failure.passThrough { return passThrough }
                lastFailure = failure
                if failure.outcome == .unauthorized, lease.isLicense, pool.claimUnauthorizedRefresh(for: lease.key) {
                    // A license JWT gets one refresh before the 401 stands; the fresh JWT may be
                    // tried for this very request (it is a different JWT).
                    if await licenses.refresh(lease.key) == false {
                        pool.invalidate(key: lease.key, reason: "license refresh failed after 401")
                    } else {
                        attempts -= 1
                    }
                }
            }
        }
        guard let lastFailure else {
            logger.warning("no available JWT tokens: no healthy JWT tokens available")
            return APIError.noUsableJWT
        }
        return APIError(
            status: lastFailure.timedOut ? .gatewayTimeout : .badGateway,
            message: "Upstream failed after \(attempts) attempt(s): \(lastFailure.message)",
            type: "upstream_error",
            code: lastFailure.timedOut ? "upstream_timeout" : "upstream_error"
        )
    }

    private func attempt(_ plan: Plan, lease: Lease, writer: ResponseWriter, sink: SSESink?) async -> AttemptResult {
        let started = ContinuousClock.now
        // This attempt's encoder: a failure after the first byte continues its stream (its
        // sequence numbers, its open items).
        var encoder = plan.encoder
        do {
            let deadline = NIODeadline.now() + upstream.requestTimeout
            let response = try await upstream.chat(plan.body, jwt: lease.jwt, codex: plan.codex, deadline: deadline)
            guard response.status == .ok else {
                let text = String(buffer: (try? await response.body.collect(upTo: 64 << 10)) ?? ByteBuffer())
                return .failed(Self.classify(status: response.status, headers: response.headers, body: text))
            }
            if let sink {
                let builder = try await streamAnswer(response, plan: plan, encoder: &encoder, sink: sink)
                complete(lease, outcome: .success)
                Self.observeAnswer(builder)
            } else {
                let builder = try await collectAnswer(response, plan: plan)
                // The upstream part is done: a client that leaves now says nothing about the JWT.
                complete(lease, outcome: .success)
                Self.observeAnswer(builder)
                let json = try plan.encoder.whole(builder)
                RequestObservation.current?.firstByte()
                do {
                    try await writer.respond(status: .ok, json: json)
                } catch {
                    throw ClientGone()
                }
            }
            logger.debug("chat answered", metadata: [
                "token": "\(lease.name)", "ms": "\((ContinuousClock.now - started).milliseconds)",
            ])
            return .answered
        } catch is ClientGone {
            // Nothing more can reach the client. A non-stream answer already completed its lease;
            // a stream was cut while the upstream still talked, which says nothing about the JWT.
            if sink == nil { return .answered }
            return .failed(AttemptFailure(outcome: .cancelled, message: "client disconnected", clientGone: true))
        } catch {
            let failure = Self.classify(error)
            if Task.isCancelled {
                return .failed(AttemptFailure(outcome: .cancelled, message: "client disconnected", clientGone: true))
            }
            if let sink, await sink.answerStarted {
                await endStreamWithError(sink, failure.message, encoder: encoder, lease: lease, outcome: failure.outcome)
                return .answered
            }
            return .failed(failure)
        }
    }

    /// A failure after the client got part of the answer: no failover is possible, so the
    /// stream ends with the front's error event and terminator (never a hang).
    private func endStreamWithError(_ sink: SSESink, _ message: String, encoder: any AnswerEncoder, lease: Lease, outcome: TokenOutcome) async {
        complete(lease, outcome: Task.isCancelled ? .cancelled : outcome, error: message)
        logger.warning("upstream failed mid-stream", metadata: ["token": "\(lease.name)", "error": "\(message)"])
        let error = APIError(status: .badGateway, message: "Upstream failed mid-stream: \(message)", type: "upstream_error", code: "upstream_error")
        try? await sink.finish(encoder.failure(error, started: true))
    }

    /// Decodes one event. A broken stream (not JSON) and an `event_type: "error"` event are
    /// upstream failures; a metadata event of an unexpected shape is skipped, logged once per
    /// answer at debug level.
    private func decode(_ payload: String, skipped: inout Bool) throws -> UpstreamEvent {
        let event: UpstreamEvent
        do {
            event = try UpstreamEvent.decode(payload)
        } catch {
            throw AttemptFailure(outcome: .upstreamFailure("malformed event stream"), message: error.description)
        }
        switch event {
        case .error(let message):
            throw AttemptFailure(outcome: .upstreamFailure("error event"), message: "upstream reported an error: \(message.prefix(500))")
        case .undecodable(let type):
            if !skipped {
                skipped = true
                logger.debug("skipped an upstream metadata event it could not read", metadata: ["type": "\(type)", "payload": "\(payload.prefix(200))"])
            }
        default:
            break
        }
        return event
    }

    private func collectAnswer(_ response: ChatResponse, plan: Plan) async throws -> AnswerBuilder {
        var builder = AnswerBuilder(restoredIDs: plan.restoredToolIDs)
        var parser = SSEParser()
        var skipped = false
        func apply(_ payloads: [String]) throws -> Bool {
            for payload in payloads {
                _ = builder.apply(try decode(payload, skipped: &skipped))
                if builder.ended { return true }
            }
            return false
        }
        for try await buffer in response.body {
            if try apply(parser.feed(buffer)) { return builder }
        }
        if try apply(parser.finish()) { return builder }
        throw AttemptFailure(outcome: .upstreamFailure("stream ended early"), message: "upstream stream ended before `data: end`")
    }

    private func streamAnswer(
        _ response: ChatResponse, plan: Plan, encoder: inout any AnswerEncoder, sink: SSESink
    ) async throws -> AnswerBuilder {
        var builder = AnswerBuilder(restoredIDs: plan.restoredToolIDs)
        var parser = SSEParser()
        var skipped = false
        func forward(_ payloads: [String]) async throws -> Bool {
            for payload in payloads {
                let event = try decode(payload, skipped: &skipped)
                let deltas = builder.apply(event)
                if !deltas.isEmpty || builder.ended, await !sink.answerStarted {
                    RequestObservation.current?.firstByte()
                    try await sink.startAnswer(encoder.opening())
                }
                if !deltas.isEmpty { try await sink.send(encoder.frames(for: deltas)) }
                if builder.ended { return true }
            }
            return false
        }
        var done = false
        for try await buffer in response.body {
            if try await forward(parser.feed(buffer)) { done = true; break }
        }
        if !done { done = try await forward(parser.finish()) }
        guard done else {
            throw AttemptFailure(outcome: .upstreamFailure("stream ended early"), message: "upstream stream ended before `data: end`")
        }
        try await sink.finish(encoder.closing(builder))
        return builder
    }

    /// What the answer cost (`QuotaMetadata.spent`) and its estimated size, for the ledger.
    private static func observeAnswer(_ builder: AnswerBuilder) {
        guard let observation = RequestObservation.current else { return }
        observation.answered(quotaSpent: builder.quota?.spent.flatMap(Double.init), tokensOut: TokenEstimator.outputTokens(of: builder))
    }

    // MARK: - Classifying failures

    private static func classify(status: HTTPResponseStatus, headers: HTTPHeaders, body: String) -> AttemptFailure {
        let code = Int(status.code)
        let text = body.trimmingCharacters(in: .whitespacesAndNewlines)
        let detail = text.isEmpty ? "" : ": " + text.prefix(300)
        let message = "upstream answered \(code)\(detail)"
        let outcome = TokenOutcome.forStatus(code, retryAfter: UpstreamClient.retryAfter(headers))
        guard case .requestRejected = outcome else { return AttemptFailure(outcome: outcome, message: message) }
        // The request (or this host) was refused, not the JWT: another JWT would fare no better.
        let passThrough: APIError
        if code == 451 {
            passThrough = APIError(
                status: HTTPResponseStatus(statusCode: 451),
                message: "JetBrains AI refused this request for legal reasons (HTTP 451): the service is not available "
                    + "from this host's region. The JWT itself is fine; route the tenant through an HTTP proxy in a "
                    + "supported region with `outbound_proxy`\(detail)",
                type: "upstream_error", code: "upstream_region_restricted"
            )
        } else {
            passThrough = APIError(
                status: code == 413 ? .payloadTooLarge : .badRequest,
                message: "JetBrains AI rejected the request (HTTP \(code))\(detail)",
                type: "invalid_request_error", code: "upstream_rejected"
            )
        }
        return AttemptFailure(outcome: outcome, message: message, passThrough: passThrough)
    }

    private static func classify(_ error: any Error) -> AttemptFailure {
        if let failure = error as? AttemptFailure { return failure }
        if let e = error as? UpstreamExchangeError {
            if e.isTimeout {
                return AttemptFailure(outcome: .upstreamFailure("timeout"), message: "upstream timed out (\(e))", timedOut: true)
            }
            return AttemptFailure(outcome: .upstreamFailure("\(e)"), message: "upstream connection failed (\(e))")
        }
        if let e = error as? HTTPClientError {
            let timeouts: [HTTPClientError] = [.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout]
            if timeouts.contains(e) {
                return AttemptFailure(outcome: .upstreamFailure("timeout"), message: "upstream timed out (\(e))", timedOut: true)
            }
            return AttemptFailure(outcome: .upstreamFailure("\(e)"), message: "upstream connection failed (\(e))")
        }
        return AttemptFailure(outcome: .upstreamFailure("\(error)"), message: "upstream connection failed (\(error))")
    }
}
