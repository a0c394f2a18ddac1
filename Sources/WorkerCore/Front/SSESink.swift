import NIOCore
import NIOHTTP1
import Shared

/// The client went away (or its connection broke) while we wrote to it.
struct ClientGone: Error {}

/// Writes an event stream to the client: the head once, frames as they come, keep-alives
/// during silences, the encoder's terminator at the end. An actor, so the keep-alive timer and
/// the answer never interleave inside an event, and nothing follows the terminator.
///
/// The head may go out before any answer (a keep-alive during a long wait for the upstream's
/// first event); failover stays possible until `answerStarted`, since a keep-alive carries no answer.
actor SSESink {
    private let writer: ResponseWriter
    private let keepAlive: String
    private(set) var headSent = false
    private(set) var answerStarted = false
    private var closed = false
    private var lastWrite = ContinuousClock.now

    init(writer: ResponseWriter, keepAlive: String) {
        self.writer = writer
        self.keepAlive = keepAlive
    }

    private func guarded(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            closed = true
            throw ClientGone()
        }
    }

    private func sendHeadIfNeeded() async throws {
        guard !headSent else { return }
        headSent = true
        try await guarded {
            try await writer.writeHead(status: .ok, headers: [
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                "x-accel-buffering": "no",
            ])
        }
    }

    /// Sends the frames that open the answer; from now on no failover.
    func startAnswer(_ frames: String) async throws {
        answerStarted = true
        try await send(frames)
    }

    func send(_ frames: String) async throws {
        guard !closed else { throw ClientGone() }
        guard !frames.isEmpty else { return }
        try await sendHeadIfNeeded()
        lastWrite = .now
        try await guarded { try await writer.write(frames) }
    }

    /// Sends the last frames (the terminator among them); nothing is written after.
    func finish(_ frames: String) async throws {
        guard !closed else { return }
        try await sendHeadIfNeeded()
        closed = true
        try await guarded { try await writer.write(frames) }
    }

    /// Writes a keep-alive if nothing was written for `interval` (sending the head first if
    /// the answer has not started yet).
    func keepAliveIfIdle(for interval: Duration) async throws {
        guard !closed, ContinuousClock.now - lastWrite >= interval else { return }
        try await sendHeadIfNeeded()
        lastWrite = .now
        try await guarded { try await writer.write(keepAlive) }
    }
}

/// Runs `body` while a side task keeps the stream alive with comments every `interval` of silence.
func withKeepAlive<T: Sendable>(
    _ sink: SSESink,
    interval: Duration,
    _ body: @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            let tick = interval / 4
            while !Task.isCancelled {
                try? await Task.sleep(for: tick)
                try? await sink.keepAliveIfIdle(for: interval)
            }
            return nil
        }
        defer { group.cancelAll() }
        return try await body()
    }
}
