/// What one listener tolerates from a client: how long it may take to send a request head, to
/// stay idle between requests and to pause inside a body, how big a head may be, and how many
/// connections the listener holds at once.
///
/// The defaults are what a reverse-proxy engineer would pick for a public port (nginx closes a
/// connection whose head has not arrived after 60 s and an idle keep-alive one after 75 s; we are
/// stricter on heads, which a well-behaved client sends in one packet).
public struct ConnectionLimits: Sendable, Equatable, Hashable, Codable {
    /// A request head (request line and headers) not complete this long after its first byte —
    /// or, on a new connection, after the accept — gets 408 and the connection is closed.
    public var headerTimeout: Duration
    /// A keep-alive connection with no request in flight is closed after this long.
    public var idleTimeout: Duration
    /// The longest pause between two pieces of a request body: past it, 408 and close.
    public var bodyTimeout: Duration
    /// Connections held at once; past it, a new connection is accepted and closed at once.
    public var maxConnections: Int
    /// A request head larger than this gets 431 and the connection is closed.
    public var maxHeaderSize: Int

    public init(
        headerTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(60), bodyTimeout: Duration = .seconds(60),
        maxConnections: Int = 4096, maxHeaderSize: Int = 32 << 10
    ) {
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.bodyTimeout = bodyTimeout
        self.maxConnections = maxConnections
        self.maxHeaderSize = maxHeaderSize
    }

    /// The defaults for a tenant's port and the supervisor's `/health` listener.
    public static let publicListener = ConnectionLimits()

    /// Control sockets: local, same-uid callers sending small requests; a stuck caller must not
    /// hold one of the few connections for long.
    public static let controlSocket = ConnectionLimits(
        headerTimeout: .seconds(5), idleTimeout: .seconds(30), bodyTimeout: .seconds(10),
        maxConnections: 64, maxHeaderSize: 8 << 10
    )

    private enum CodingKeys: String, CodingKey {
        case headerTimeout = "headerTimeoutMs"
        case idleTimeout = "idleTimeoutMs"
        case bodyTimeout = "bodyTimeoutMs"
        case maxConnections, maxHeaderSize
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        headerTimeout = try c.decodeMilliseconds(forKey: .headerTimeout)
        idleTimeout = try c.decodeMilliseconds(forKey: .idleTimeout)
        bodyTimeout = try c.decodeMilliseconds(forKey: .bodyTimeout)
        maxConnections = try c.decode(Int.self, forKey: .maxConnections)
        maxHeaderSize = try c.decode(Int.self, forKey: .maxHeaderSize)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeMilliseconds(headerTimeout, forKey: .headerTimeout)
        try c.encodeMilliseconds(idleTimeout, forKey: .idleTimeout)
        try c.encodeMilliseconds(bodyTimeout, forKey: .bodyTimeout)
        try c.encode(maxConnections, forKey: .maxConnections)
        try c.encode(maxHeaderSize, forKey: .maxHeaderSize)
    }
}
