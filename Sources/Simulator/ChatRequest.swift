/// Which chat endpoint a request came in on.
enum APIVersion: String, Sendable {
    case v7
    case v8

    /// The version served at `path`, or nil when the path is not a chat endpoint.
    init?(chatPath path: String) {
        switch path {
        case "/user/v5/llm/chat/stream/v8": self = .v8
        case "/user/v5/llm/chat/stream/v7": self = .v7
        default: return nil
        }
    }
}

/// Why a chat body was rejected (answered 400).
struct ChatRequestError: Error, Equatable {
    var message: String
}

/// The parts of a chat body the simulator acts on.
///
/// Both versions' shapes are accepted on both endpoints: v8 `tool_message` and v7
/// `function_message`, tools under `llm.parameters.tools` or `llm.parameters.functions`.
struct ChatRequest: Sendable, Equatable {
    var version: APIVersion
    /// `chat.messages`, each an object with a string `type`.
    var messages: [SimJSON]
    /// Names of the offered tools, in the order given.
    var toolNames: [String]

    init(version: APIVersion, messages: [SimJSON], toolNames: [String] = []) {
        self.version = version
        self.messages = messages
        self.toolNames = toolNames
    }

    init(body: SimJSON, version: APIVersion) throws(ChatRequestError) {
        guard body.objectValue != nil else { throw ChatRequestError(message: "body must be a JSON object") }
        guard let chat = body["chat"], chat.objectValue != nil else {
            throw ChatRequestError(message: "missing object 'chat'")
        }
        guard let messages = chat["messages"]?.arrayValue else {
            throw ChatRequestError(message: "missing array 'chat.messages'")
        }
        for (index, message) in messages.enumerated() where message["type"]?.stringValue == nil {
            throw ChatRequestError(message: "chat.messages[\(index)] has no string 'type'")
        }
        self.version = version
        self.messages = messages
        self.toolNames = try Self.toolNames(in: body["parameters"])
    }

    /// Tool names from `parameters.data`: the element after an `llm.parameters.tools` (or
    /// `.functions`) fqdn carries a `value`, JSON text (or a JSON array) of tool objects.
    static func toolNames(in parameters: SimJSON?) throws(ChatRequestError) -> [String] {
        guard let parameters, !parameters.isNull else { return [] }
        guard let data = parameters["data"]?.arrayValue else {
            if parameters.objectValue != nil { return [] }
            throw ChatRequestError(message: "'parameters' must be an object")
        }
        var names: [String] = []
        var expectingValue = false
        for item in data {
            if let fqdn = item["fqdn"]?.stringValue {
                expectingValue = fqdn == "llm.parameters.tools" || fqdn == "llm.parameters.functions"
                if !expectingValue || item["value"] == nil { continue }
            }
            guard expectingValue, let value = item["value"] else { continue }
            expectingValue = false
            names += try toolNames(fromValue: value)
        }
        return names
    }

    private static func toolNames(fromValue value: SimJSON) throws(ChatRequestError) -> [String] {
        let list: [SimJSON]
        switch value {
        case .string(let text):
            guard let parsed = SimJSON.parse(text)?.arrayValue else {
                throw ChatRequestError(message: "tools value is not a JSON array")
            }
            list = parsed
        case .array(let items):
            list = items
        default:
            throw ChatRequestError(message: "tools value must be JSON text")
        }
        return list.compactMap { tool in
            // Also accept the OpenAI wrapper {"type": "function", "function": {...}}.
            (tool["function"] ?? tool)["name"]?.stringValue
        }
    }

    var lastMessage: SimJSON? { messages.last }
    var lastMessageType: String? { lastMessage?["type"]?.stringValue }

    /// Content of the last `user_message` ("" when there is none).
    var lastUserText: String {
        guard let message = messages.last(where: { $0["type"]?.stringValue == "user_message" }) else { return "" }
        return Self.text(of: message["content"])
    }

    /// A message field as text: strings as they are, other JSON as its text.
    static func text(of value: SimJSON?) -> String {
        guard let value, !value.isNull else { return "" }
        return value.stringValue ?? value.text
    }
}
