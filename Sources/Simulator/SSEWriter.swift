import NIOHTTP1
import Shared

/// Writes a `text/event-stream` answer: `data: <JSON>\n\n` per event, each flushed on its own,
/// then `data: end\n\n`. With `dropAfter`, the connection is cut (`DropConnection`) once that
/// many events are out, before `data: end`.
struct SSEWriter {
    let writer: ResponseWriter
    var dropAfter: Int?
    private(set) var written = 0

    init(writer: ResponseWriter, dropAfter: Int? = nil) {
        self.writer = writer
        self.dropAfter = dropAfter
    }

    static var headers: HTTPHeaders {
        ["content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"]
    }

    func start() async throws {
        try await writer.writeHead(status: .ok, headers: Self.headers)
        if dropAfter == 0 { throw DropConnection() }
    }

    mutating func send(_ event: SimJSON) async throws {
        try await writer.write("data: \(event.text)\n\n")
        written += 1
        if let dropAfter, written >= dropAfter { throw DropConnection() }
    }

    func finish() async throws {
        if dropAfter != nil { throw DropConnection() }
        try await writer.write("data: end\n\n")
        try await writer.end()
    }

    /// Sends an error event (not counted against `dropAfter`), then `data: end` when `end`,
    /// then ends the response normally.
    func finish(withError event: SimJSON, end: Bool) async throws {
        try await writer.write("data: \(event.text)\n\n")
        if end { try await writer.write("data: end\n\n") }
        try await writer.end()
    }
}
