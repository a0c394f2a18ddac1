import Foundation

/// What the supervisor hands a worker on stdin (one JSON line): the resolved tenant, and the
/// health of JWTs carried over from the worker it replaces (a JWT that stays keeps its state).
public struct SupervisedStart: Codable, Sendable, Equatable {
    public var tenant: TenantConfig
    public var tokenStates: [CarriedTokenState]
    /// Start without taking connections from the listener until the control socket's
    /// `POST /resume`: the supervisor is answering the listener itself meanwhile, and only one
    /// process accepts at a time.
    public var startPaused: Bool

    public init(tenant: TenantConfig, tokenStates: [CarriedTokenState] = [], startPaused: Bool = false) {
        self.tenant = tenant
        self.tokenStates = tokenStates
        self.startPaused = startPaused
    }

    private enum CodingKeys: String, CodingKey {
        case tenant, tokenStates, startPaused
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tenant = try c.decode(TenantConfig.self, forKey: .tenant)
        tokenStates = try c.decode([CarriedTokenState].self, forKey: .tokenStates)
        // Added later: a settings line without it starts accepting at once.
        startPaused = try c.decodeIfPresent(Bool.self, forKey: .startPaused) ?? false
    }
}

/// One JWT's health as the previous worker reported it, by the token's name in the new settings.
public struct CarriedTokenState: Codable, Sendable, Equatable {
    public var name: String
    public var state: TokenState
    public var until: Date?
    public var consecutiveFailures: Int
    public var lastError: String?

    public init(name: String, state: TokenState, until: Date?, consecutiveFailures: Int, lastError: String?) {
        self.name = name
        self.state = state
        self.until = until
        self.consecutiveFailures = consecutiveFailures
        self.lastError = lastError
    }
}

extension JSONEncoder {
    /// Encoder for control documents: sorted keys, ISO 8601 dates.
    public static func control(pretty: Bool = false) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }
}

extension JSONDecoder {
    public static func control() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}
