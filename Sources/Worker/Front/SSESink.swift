import NIOCore
import NIOHTTP1
import Shared

/// Writes an OpenAI event stream to the client: head once, then `data:` events as they come,
/// keep-alive comments during silences, `[DONE]` at the end. An actor, so the keep-alive timer
/// and the answer never interleave inside an event, and nothing follows `[DONE]`.
actor SSESink {
    private let writer: ResponseWriter
    private(set) var headSent = false
    private var closed = false
    private var lastWrite = ContinuousClock.now

    init(writer: ResponseWriter) {
        self.writer = writer
    }

    func sendHead() async throws {
        guard !headSent else { return }
        headSent = true
        lastWrite = .now
        try await writer.writeHead(status: .ok, headers: [
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "x-accel-buffering": "no",
        ])
    }

    func send(json: String) async throws {
        guard !closed else { return }
        lastWrite = .now
        try await writer.write("data: \(json)\n\n")
    }

    /// Ends the stream with `data: [DONE]`.
    func finish() async throws {
        guard !closed else { return }
        closed = true
        try await writer.write("data: [DONE]\n\n")
    }

    /// Writes a comment line if nothing was written for `interval`.
    func keepAliveIfIdle(for interval: Duration) async throws {
        guard headSent, !closed, ContinuousClock.now - lastWrite >= interval else { return }
        lastWrite = .now
        try await writer.write(": keep-alive\n\n")
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
