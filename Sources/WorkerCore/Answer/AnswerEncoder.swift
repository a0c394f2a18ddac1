import NIOHTTP1

/// One front protocol's wire format for an answer (OpenAI chat completions, Anthropic
/// messages, …). The lease → attempt → failover → stream loop (`ChatProxy`) exists once; a front
/// only says how an answer, its pieces and its errors look on its wire.
///
/// Streamed answers are server-sent events: every method returning `String` returns complete
/// SSE frames (`data: …\n\n`, or `event: …\ndata: …\n\n`), possibly several, written at once.
/// An encoder is a value: each attempt starts from the plan's copy, so a failover never sees
/// the state of the attempt before it.
protocol AnswerEncoder: Sendable {
    /// A whole (non-streamed) answer.
    func whole(_ answer: AnswerBuilder) throws -> String
    /// An error answered before any byte of the answer went out.
    func response(for error: APIError) -> (status: HTTPResponseStatus, json: String, headers: HTTPHeaders)

    /// What fills silences while the stream waits for the upstream (a comment, a ping event).
    var keepAlive: String { get }
    /// The frames that open a streamed answer (sent with its first piece); no failover after.
    mutating func opening() throws -> String
    /// The frames for the pieces one upstream event added.
    mutating func frames(for deltas: [AnswerDelta]) throws -> String
    /// The frames that close a complete answer, its terminator included.
    mutating func closing(_ answer: AnswerBuilder) throws -> String
    /// The frames that end a stream after a failure, its terminator included — after part of
    /// the answer went out (`started`), or when only keep-alives did.
    func failure(_ error: APIError, started: Bool) -> String
}
