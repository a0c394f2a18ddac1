/// Which upstream endpoint a request reached.
enum Endpoint: String, Sendable, CaseIterable {
    /// Chat streams: `/user/v5/llm/chat/stream/v7`, `/v8` and the Codex `/user/v5/llm/responses/stream/v8`.
    case chat
    case quota
    case license
    case profiles
    /// The OAuth refresh-token exchange.
    case oauth
}

/// What an injected fault does to the request it hits.
enum FaultKind: String, Sendable, CaseIterable {
    /// Answer `status` (with `Retry-After` when `retryAfter` is set).
    case status
    /// Wait `delayMs` before the first byte, then answer normally.
    case delay
    /// Never answer; ends when the client disconnects.
    case hang
    /// Write `afterEvents` events, then close the connection without `data: end`.
    case drop
    /// 200 with non-JSON `data:` lines (or a non-JSON body), then close.
    case garbage
    /// Chat only: a 200 stream with `afterEvents` normal events, then
    /// `{"event_type": "error", "error_message": message}` (plus `"type": "error"` with
    /// `withType`), then `data: end` (unless `noEnd`).
    case errorEvent = "error_event"
}

/// A fault registered through `POST /_sim/faults`.
struct Fault: Sendable, Equatable {
    var id: String
    /// nil: applies to every JWT (global).
    var jwt: String?
    /// nil: any endpoint.
    var endpoint: Endpoint?
    var kind: FaultKind
    var status: Int = 500
    var retryAfter: Int?
    var delayMs: Int = 0
    var afterEvents: Int = 1
    /// `status`: the body to answer instead of the default one (JSON when it parses as JSON,
    /// else plain text).
    var body: String?
    /// `error_event`: the `error_message`.
    var message = "Internal error"
    /// `error_event`: also carry `"type": "error"`.
    var withType = false
    /// `error_event`: end the stream without `data: end`.
    var noEnd = false
    /// Applications left; nil = until cleared.
    var remaining: Int?
    /// Creation order: the newest fault wins among equals.
    var serial: Int = 0

    func matches(_ endpoint: Endpoint, jwt: String?) -> Bool {
        if let mine = self.endpoint, mine != endpoint { return false }
        if let mine = self.jwt, mine != jwt { return false }
        return true
    }

    /// Reads a fault from the admin API's JSON body (`id` and `serial` are set by the state).
    init(json: SimJSON) throws(AdminError) {
        guard json.objectValue != nil else { throw AdminError("body must be a JSON object") }
        guard let kindName = json["kind"]?.stringValue, let kind = FaultKind(rawValue: kindName) else {
            throw AdminError("'kind' must be one of \(FaultKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.id = ""
        self.kind = kind
        switch json["jwt"] {
        case nil, .null?: jwt = nil
        case .string(let s)?: jwt = s
        default: throw AdminError("'jwt' must be a string")
        }
        switch json["endpoint"]?.stringValue ?? "chat" {
        case "any": endpoint = nil
        case let name:
            guard let e = Endpoint(rawValue: name) else {
                throw AdminError("'endpoint' must be \(Endpoint.allCases.map(\.rawValue).joined(separator: ", ")) or any")
            }
            endpoint = e
        }
        if kind == .errorEvent, endpoint != .chat {
            throw AdminError("kind 'error_event' applies to the chat endpoint only")
        }
        if kind == .status {
            guard let status = json["status"]?.intValue, (400...599).contains(status) else {
                throw AdminError("kind 'status' needs an HTTP error 'status' (400-599)")
            }
            self.status = status
        }
        retryAfter = try Self.optionalInt(json, "retry_after", minimum: 0)
        delayMs = try Self.optionalInt(json, "delay_ms", minimum: 0) ?? 0
        afterEvents = try Self.optionalInt(json, "after_events", minimum: 0) ?? 1
        remaining = try Self.optionalInt(json, "count", minimum: 1)
        body = try Self.optionalString(json, "body")
        message = try Self.optionalString(json, "message") ?? message
        withType = try Self.optionalBool(json, "with_type") ?? false
        noEnd = try Self.optionalBool(json, "no_end") ?? false
    }

    init(id: String, jwt: String? = nil, endpoint: Endpoint? = .chat, kind: FaultKind) {
        self.id = id
        self.jwt = jwt
        self.endpoint = endpoint
        self.kind = kind
    }

    private static func optionalInt(_ json: SimJSON, _ key: String, minimum: Int) throws(AdminError) -> Int? {
        guard let value = json[key], !value.isNull else { return nil }
        guard let int = value.intValue, int >= minimum else { throw AdminError("'\(key)' must be an integer >= \(minimum)") }
        return int
    }

    private static func optionalString(_ json: SimJSON, _ key: String) throws(AdminError) -> String? {
        guard let value = json[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw AdminError("'\(key)' must be a string") }
        return text
    }

    private static func optionalBool(_ json: SimJSON, _ key: String) throws(AdminError) -> Bool? {
        guard let value = json[key], !value.isNull else { return nil }
        guard let bool = value.boolValue else { throw AdminError("'\(key)' must be a boolean") }
        return bool
    }

    var json: SimJSON {
        var object: [String: SimJSON] = [
            "id": .string(id), "kind": .string(kind.rawValue),
            "jwt": jwt.map(SimJSON.string) ?? .null,
            "endpoint": .string(endpoint?.rawValue ?? "any"),
            "count": remaining.map(SimJSON.int) ?? .null,
        ]
        switch kind {
        case .status:
            object["status"] = .int(status)
            if let retryAfter { object["retry_after"] = .int(retryAfter) }
            if let body { object["body"] = .string(body) }
        case .delay: object["delay_ms"] = .int(delayMs)
        case .drop: object["after_events"] = .int(afterEvents)
        case .errorEvent:
            object["after_events"] = .int(afterEvents)
            object["message"] = .string(message)
            object["with_type"] = .bool(withType)
            object["no_end"] = .bool(noEnd)
        case .hang, .garbage: break
        }
        return .object(object)
    }
}

/// A bad admin request (answered 400).
struct AdminError: Error, Equatable {
    var message: String
    init(_ message: String) { self.message = message }
}
