/// Which chat protocol version a request speaks.
enum APIVersion: String, Sendable {
    case v7
    case v8
}

/// Which streaming endpoint a chat request came in on.
enum ChatRoute: String, Sendable {
    case chatV7 = "/user/v5/llm/chat/stream/v7"
    case chatV8 = "/user/v5/llm/chat/stream/v8"
    /// Codex profiles only; same body and answer as chat v8, no tools or parameters.
    case responses = "/user/v5/llm/responses/stream/v8"

    init?(path: String) {
        self.init(rawValue: path)
    }

    var version: APIVersion { self == .chatV7 ? .v7 : .v8 }
    /// `chat` or `responses`, as recorded.
    var kind: String { self == .responses ? "responses" : "chat" }
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
    /// `profile`, nil when missing or not a string.
    var profile: String?
    /// Every `fqdn` in `parameters.data`, in order.
    var parameterKeys: [String]
    /// `parameters` is there and not empty (`null`, `{}` and `{"data": []}` count as empty).
    var hasParameters: Bool
    /// The tool the model must call (`tool-choice-named`, or the first tool with
    /// `tool-choice-required`); nil when the model may choose.
    var forcedTool: String?

    init(version: APIVersion, messages: [SimJSON], toolNames: [String] = [], profile: String? = nil, parameterKeys: [String] = []) {
        self.version = version
        self.messages = messages
        self.toolNames = toolNames
        self.profile = profile
        self.parameterKeys = parameterKeys
        self.hasParameters = !parameterKeys.isEmpty
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
        self.profile = body["profile"]?.stringValue
        let data = body["parameters"]?["data"]?.arrayValue ?? []
        self.parameterKeys = data.compactMap { $0["fqdn"]?.stringValue }
        // A model honours the tool choice: `none` offers no tools, `required`/named forces one.
        if parameterKeys.contains("llm.parameters.tool-choice-none") { toolNames = [] }
        if let i = data.firstIndex(where: { $0["fqdn"]?.stringValue == "llm.parameters.tool-choice-named" }), i + 1 < data.count,
           let name = data[i + 1]["value"]?.stringValue, toolNames.contains(name)
        {
            forcedTool = name
        } else if parameterKeys.contains("llm.parameters.tool-choice-required") {
            forcedTool = toolNames.first
        }
        switch body["parameters"] {
        case nil, .null?: hasParameters = false
        case .object(let members)?: hasParameters = !(members.isEmpty || (members.count == 1 && members["data"]?.arrayValue?.isEmpty == true))
        default: hasParameters = true
        }
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
