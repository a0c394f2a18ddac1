import Foundation
import Shared

/// An OpenAI Responses API request (`POST /v1/responses`), read into what the upstream can
/// honour. The worker is stateless: `store` is accepted (nothing is ever stored), and whatever
/// needs a stored object (`previous_response_id`, `conversation`, `prompt`, `background`,
/// `item_reference` items) is refused with a 400 naming it. Built-in tools (`web_search`, …)
/// are refused the same way; unknown fields are ignored.
///
/// Decoding throws `APIError` (400, `param` naming the field) for a request that is JSON of
/// the wrong shape; `chatRequest()` turns it into the one internal chat request every front
/// shares.
struct ResponsesRequest: Decodable, Sendable {
    var model: String
    var input: [InputItem]
    var instructions: String?
    var tools: [FunctionTool]
    var toolChoice: ToolChoice?
    var parallelToolCalls: Bool?
    var maxOutputTokens: Int?
    var temperature: Double?
    var topP: Double?
    var reasoningEffort: String?
    var responseFormat: JSONValue?
    var verbosity: String?
    var stream: Bool
    var store: Bool?

    /// What the response object repeats back (the SDK's `Response` requires some of these).
    var echo: Echo

    struct Echo: Sendable, Equatable {
        var instructions: String?
        var tools: [JSONValue] = []
        var toolChoice: JSONValue = .string("auto")
        var parallelToolCalls = true
        var maxOutputTokens: Int?
        var temperature: Double?
        var topP: Double?
        var reasoning: JSONValue = .null
        var text: JSONValue = .object(["format": .object(["type": .string("text")])])
        var metadata: JSONValue = .object([:])
        var user: String?
    }

    /// One item of `input`.
    enum InputItem: Sendable, Equatable {
        /// `{"role", "content"}`, with or without `"type": "message"`.
        case message(role: String, content: [ContentPart])
        case functionCall(callID: String, name: String, arguments: String)
        case functionCallOutput(callID: String, output: String)
        /// A `reasoning` item sent back from an earlier answer: nothing in it reaches the
        /// upstream (this gateway never produces one, but clients may replay them).
        case reasoning
    }

    enum ContentPart: Sendable, Equatable {
        case text(String)
        /// A `data:` URL (checked to be base64 when decoded).
        case image(String)
    }

    struct FunctionTool: Sendable, Equatable {
        var name: String
        var description: String?
        var parameters: JSONValue?
        /// The `namespace` tool this function came in (the client runs it all the same).
        var namespace: String?
    }

    enum ToolChoice: Sendable, Equatable {
        case none, auto, required
        case function(String)
    }

    // MARK: - Decoding

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Items of `input` the worker has no way to honour, with why.
    static let refusedItemTypes: [String: String] = [
        "item_reference": "it refers to a stored item, and this gateway stores nothing (send the item itself)",
    ]

    /// Built-in (hosted) tool types: OpenAI runs them, JetBrains AI has no equivalent.
    static let builtInToolTypes: Set<String> = [
        "web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11",
        "file_search", "computer", "computer_use_preview", "code_interpreter", "image_generation",
        "mcp", "local_shell", "shell", "apply_patch", "tool_search",
    ]

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        func has(_ key: String) -> Bool {
            guard c.contains(Key(key)) else { return false }
            return (try? c.decodeNil(forKey: Key(key))) == false
        }
        func decode<T: Decodable>(_ type: T.Type, _ key: String) throws -> T? {
            guard has(key) else { return nil }
            return try c.decode(T.self, forKey: Key(key))
        }

        // Stateful features first: their error says more than any other.
        if let id = try? c.decodeIfPresent(String.self, forKey: Key("previous_response_id")), !id.isEmpty {
            throw APIError.invalidRequest(
                "previous_response_id is not supported: this gateway is stateless and stores no responses. "
                    + "Send the whole conversation in 'input' (and use store: false).",
                code: "unsupported_parameter", param: "previous_response_id"
            )
        }
        for key in ["conversation", "prompt"] where has(key) {
            throw APIError.invalidRequest(
                "'\(key)' is not supported: this gateway is stateless and keeps no stored \(key)s. Send the whole conversation in 'input'.",
                code: "unsupported_parameter", param: key
            )
        }
        if try decode(Bool.self, "background") == true {
            throw APIError.invalidRequest(
                "background: true is not supported: this gateway is stateless and cannot keep a response to poll for",
                code: "unsupported_parameter", param: "background"
            )
        }

        guard let model = try decode(String.self, "model"), !model.isEmpty else {
            throw APIError.invalidRequest("Missing required parameter: 'model'.", code: "missing_required_parameter", param: "model")
        }
        self.model = model
        stream = try decode(Bool.self, "stream") ?? false
        store = try decode(Bool.self, "store")
        instructions = try decode(String.self, "instructions")
        parallelToolCalls = try decode(Bool.self, "parallel_tool_calls")
        maxOutputTokens = try decode(Int.self, "max_output_tokens")
        if let max = maxOutputTokens, max < 1 {
            throw APIError.invalidRequest(
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 1, but got \(max) instead.",
                code: "integer_below_min_value", param: "max_output_tokens"
            )
        }
        temperature = try decode(Double.self, "temperature")
        topP = try decode(Double.self, "top_p")

        // input: a string (one user message) or a list of items
        guard has("input") else {
            throw APIError.invalidRequest("Missing required parameter: 'input'.", code: "missing_required_parameter", param: "input")
        }
        if let text = try? c.decode(String.self, forKey: Key("input")) {
            input = [.message(role: "user", content: [.text(text)])]
        } else if (try? c.nestedUnkeyedContainer(forKey: Key("input"))) != nil {
            input = try c.decode([InputItem].self, forKey: Key("input"))
        } else {
            throw Self.typeError("input", expected: "a string or an array of input items")
        }
        guard input.contains(where: { $0 != .reasoning }) else {
            throw APIError.invalidRequest("Invalid 'input': expected at least one message, function_call or function_call_output item.", code: "empty_array", param: "input")
        }

        // tools: function tools only
        let rawTools = try decode([JSONValue].self, "tools") ?? []
        let tools = try Self.functionTools(rawTools)
        self.tools = tools

        let rawChoice = try decode(JSONValue.self, "tool_choice")
        toolChoice = try rawChoice.map { try Self.toolChoice($0, tools: tools) }

        // reasoning.effort, text.format / text.verbosity
        let reasoning = try decode(JSONValue.self, "reasoning")
        if let reasoning, reasoning.objectValue == nil {
            throw Self.typeError("reasoning", expected: "an object")
        }
        reasoningEffort = reasoning?["effort"]?.stringValue
        let text = try decode(JSONValue.self, "text")
        if let text, text.objectValue == nil { throw Self.typeError("text", expected: "an object") }
        responseFormat = try text?["format"].flatMap { try Self.responseFormat($0) }
        verbosity = text?["verbosity"]?.stringValue

        var echo = Echo()
        echo.instructions = instructions
        echo.tools = rawTools
        echo.toolChoice = rawChoice ?? .string("auto")
        echo.parallelToolCalls = parallelToolCalls ?? true
        echo.maxOutputTokens = maxOutputTokens
        echo.temperature = temperature
        echo.topP = topP
        if let reasoning {
            echo.reasoning = .object(["effort": reasoning["effort"] ?? .null, "summary": reasoning["summary"] ?? .null])
        }
        if var format = text?.objectValue {
            if format["format"] == nil || format["format"] == .null { format["format"] = .object(["type": .string("text")]) }
            echo.text = .object(format)
        }
        if let metadata = try decode(JSONValue.self, "metadata"), metadata.objectValue != nil { echo.metadata = metadata }
        echo.user = try? decode(String.self, "user")
        self.echo = echo
    }

    private static func typeError(_ param: String, expected: String) -> APIError {
        APIError.invalidRequest("Invalid type for '\(param)': expected \(expected).", code: "invalid_type", param: param)
    }

    /// Every function tool: the flat `{"type": "function", "name", "description",
    /// "parameters", "strict"}` ones, and those inside a `namespace` tool (Codex sends its
    /// sub-agent tools so), which the upstream gets as plain functions: their names must then
    /// be unique across namespaces.
    static func functionTools(_ raw: [JSONValue]) throws(APIError) -> [FunctionTool] {
        var tools: [FunctionTool] = []
        var seen: [String: String] = [:]  // name → where it was defined
        func add(_ tool: FunctionTool, at param: String) throws(APIError) {
            if let first = seen[tool.name] {
                throw APIError.invalidRequest(
                    "\(param).name: the function '\(tool.name)' is also defined at \(first); JetBrains AI takes functions "
                        + "without namespaces, so their names must be unique",
                    code: "duplicate_tool_name", param: "\(param).name"
                )
            }
            seen[tool.name] = param
            tools.append(tool)
        }
        for (index, tool) in raw.enumerated() {
            let param = "tools[\(index)]"
            if tool["type"]?.stringValue == "namespace" {
                guard let namespace = tool["name"]?.stringValue, !namespace.isEmpty else {
                    throw APIError.invalidRequest("Missing required parameter: '\(param).name'.", code: "missing_required_parameter", param: "\(param).name")
                }
                guard let members = tool["tools"]?.arrayValue else {
                    throw APIError.invalidRequest("Missing required parameter: '\(param).tools'.", code: "missing_required_parameter", param: "\(param).tools")
                }
                for (memberIndex, member) in members.enumerated() {
                    var function = try functionTool(member, param: "\(param).tools[\(memberIndex)]")
                    function.namespace = namespace
                    try add(function, at: "\(param).tools[\(memberIndex)]")
                }
            } else {
                try add(try functionTool(tool, param: param), at: param)
            }
        }
        return tools
    }

    /// One `{"type": "function", "name", "description", "parameters", "strict"}` (flat, not the
    /// chat API's nested `function`).
    static func functionTool(_ raw: JSONValue, param: String) throws(APIError) -> FunctionTool {
        guard let tool = raw.objectValue else { throw typeError(param, expected: "an object") }
        guard let type = tool["type"]?.stringValue else {
            throw APIError.invalidRequest("Missing required parameter: '\(param).type'.", code: "missing_required_parameter", param: "\(param).type")
        }
        guard type == "function" else {
            let builtIn = builtInToolTypes.contains(type) || type.hasPrefix("web_search")
            let hint = type.hasPrefix("web_search") ? " (the Codex CLI: set web_search = \"disabled\" in its config.toml)" : ""
            throw APIError.invalidRequest(
                "\(param): \(builtIn ? "the built-in tool" : "the tool type") '\(type)' is not supported: JetBrains AI runs no hosted "
                    + "tools. Only function tools ({\"type\": \"function\", \"name\", \"parameters\"}) can be used\(hint).",
                code: "unsupported_tool", param: "\(param).type"
            )
        }
        guard let name = tool["name"]?.stringValue, !name.isEmpty else {
            let nested = tool["function"] != nil ? " (the Responses API takes function tools flat: name, description and parameters beside type, not under 'function')" : ""
            throw APIError.invalidRequest("Missing required parameter: '\(param).name'.\(nested)", code: "missing_required_parameter", param: "\(param).name")
        }
        if let parameters = tool["parameters"], parameters != .null, parameters.objectValue == nil {
            throw typeError("\(param).parameters", expected: "an object")
        }
        let parameters = tool["parameters"].flatMap { $0 == .null ? nil : $0 }
        return FunctionTool(name: name, description: tool["description"]?.stringValue, parameters: parameters)
    }

    /// `"auto"`, `"none"`, `"required"` or `{"type": "function", "name"}`.
    static func toolChoice(_ raw: JSONValue, tools: [FunctionTool]) throws(APIError) -> ToolChoice {
        if let mode = raw.stringValue {
            switch mode {
            case "auto": return .auto
            case "none": return .none
            case "required": return .required
            default:
                throw APIError.invalidRequest(
                    "Invalid value for 'tool_choice': '\(mode)'. Supported values are: 'none', 'auto' and 'required'.",
                    code: "invalid_value", param: "tool_choice"
                )
            }
        }
        guard let choice = raw.objectValue else { throw typeError("tool_choice", expected: "a string or an object") }
        let type = choice["type"]?.stringValue ?? ""
        guard type == "function" else {
            throw APIError.invalidRequest(
                "tool_choice of type '\(type)' is not supported: only 'auto', 'none', 'required' and {\"type\": \"function\", \"name\"} are",
                code: "unsupported_tool_choice", param: "tool_choice.type"
            )
        }
        guard let name = choice["name"]?.stringValue, !name.isEmpty else {
            throw APIError.invalidRequest("Missing required parameter: 'tool_choice.name'.", code: "missing_required_parameter", param: "tool_choice.name")
        }
        guard tools.contains(where: { $0.name == name }) else {
            throw APIError.invalidRequest(
                "Tool choice 'function' set to '\(name)', but no function tool of that name is in 'tools'.",
                code: "invalid_value", param: "tool_choice.name"
            )
        }
        return .function(name)
    }

    /// `text.format` → the chat API's `response_format` (nil for plain text).
    static func responseFormat(_ format: JSONValue) throws(APIError) -> JSONValue? {
        if format == .null { return nil }
        guard let object = format.objectValue else { throw typeError("text.format", expected: "an object") }
        switch object["type"]?.stringValue {
        case "text"?:
            return nil
        case "json_object"?:
            return .object(["type": .string("json_object")])
        case "json_schema"?:
            guard let name = object["name"]?.stringValue else {
                throw APIError.invalidRequest("Missing required parameter: 'text.format.name'.", code: "missing_required_parameter", param: "text.format.name")
            }
            guard let schema = object["schema"], schema.objectValue != nil else {
                throw APIError.invalidRequest("Missing required parameter: 'text.format.schema'.", code: "missing_required_parameter", param: "text.format.schema")
            }
            var inner: [String: JSONValue] = ["name": .string(name), "schema": schema]
            if let strict = object["strict"], strict != .null { inner["strict"] = strict }
            if let description = object["description"], description != .null { inner["description"] = description }
            return .object(["type": .string("json_schema"), "json_schema": .object(inner)])
        case let other:
            throw APIError.invalidRequest(
                "Invalid value for 'text.format.type': '\(other ?? "")'. Supported values are: 'text', 'json_object' and 'json_schema'.",
                code: "invalid_value", param: "text.format.type"
            )
        }
    }

    // MARK: - The internal chat request

    /// The one internal chat request: `instructions` first as a system message, then the
    /// items in order; consecutive `function_call` items (parallel calls) join the assistant
    /// message before them.
    func chatRequest() -> ChatCompletionRequest {
        var messages: [ChatMessage] = []
        if let instructions, !instructions.isEmpty {
            messages.append(ChatMessage(role: "system", content: .text(instructions)))
        }
        for item in input {
            switch item {
            case .message(let role, let parts):
                messages.append(ChatMessage(role: role, content: Self.content(parts)))
            case .functionCall(let callID, let name, let arguments):
                let call = ChatMessage.ToolCall(id: callID, type: "function", function: .init(name: name, arguments: arguments))
                if let last = messages.indices.last, messages[last].role == "assistant" {
                    messages[last].toolCalls = (messages[last].toolCalls ?? []) + [call]
                } else {
                    messages.append(ChatMessage(role: "assistant", toolCalls: [call]))
                }
            case .functionCallOutput(let callID, let output):
                messages.append(ChatMessage(role: "tool", content: .text(output), toolCallID: callID))
            case .reasoning:
                continue
            }
        }
        return ChatCompletionRequest(
            model: model,
            messages: messages,
            stream: stream,
            tools: tools.isEmpty ? nil : tools.map {
                Tool(type: "function", function: FunctionDefinition(name: $0.name, description: $0.description, parameters: $0.parameters))
            },
            toolChoice: toolChoice.map {
                switch $0 {
                case .auto: return .auto
                case .none: return .none
                case .required: return .required
                case .function(let name): return .function(name)
                }
            },
            temperature: temperature,
            topP: topP,
            maxCompletionTokens: maxOutputTokens,
            responseFormat: responseFormat,
            reasoningEffort: reasoningEffort,
            verbosity: verbosity,
            parallelToolCalls: parallelToolCalls
        )
    }

    private static func content(_ parts: [ContentPart]) -> MessageContent {
        if parts.count == 1, case .text(let text) = parts[0] { return .text(text) }
        return .parts(parts.map {
            switch $0 {
            case .text(let text): return .text(text)
            case .image(let url): return .imageURL(url)
            }
        })
    }
}

// MARK: - Input items

extension ResponsesRequest.InputItem: Decodable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let path = ResponsesRequest.param(decoder.codingPath)
        guard let c = try? decoder.container(keyedBy: Key.self) else {
            throw APIError.invalidRequest("Invalid type for '\(path)': expected an input item object.", code: "invalid_type", param: path)
        }
        func string(_ key: String, required: Bool = true) throws -> String? {
            if let value = try? c.decodeIfPresent(String.self, forKey: Key(key)) { return value }
            if c.contains(Key(key)), (try? c.decodeNil(forKey: Key(key))) == false {
                throw APIError.invalidRequest("Invalid type for '\(path).\(key)': expected a string.", code: "invalid_type", param: "\(path).\(key)")
            }
            guard !required else {
                throw APIError.invalidRequest("Missing required parameter: '\(path).\(key)'.", code: "missing_required_parameter", param: "\(path).\(key)")
            }
            return nil
        }
        let type = try string("type", required: false)
        switch type {
        case nil, "message"?:
            let role = try string("role")!
            guard ["user", "assistant", "system", "developer"].contains(role) else {
                throw APIError.invalidRequest(
                    "Invalid value for '\(path).role': '\(role)'. Supported values are: 'user', 'assistant', 'system' and 'developer'.",
                    code: "invalid_value", param: "\(path).role"
                )
            }
            if let text = try? c.decode(String.self, forKey: Key("content")) {
                self = .message(role: role, content: [.text(text)])
                return
            }
            guard c.contains(Key("content")) else {
                throw APIError.invalidRequest("Missing required parameter: '\(path).content'.", code: "missing_required_parameter", param: "\(path).content")
            }
            guard let raw = try? c.decode([JSONValue].self, forKey: Key("content")) else {
                throw APIError.invalidRequest(
                    "Invalid type for '\(path).content': expected a string or an array of content parts.", code: "invalid_type", param: "\(path).content"
                )
            }
            let parts = try raw.enumerated().map { index, part in
                try ResponsesRequest.contentPart(part, role: role, param: "\(path).content[\(index)]")
            }
            self = .message(role: role, content: parts)
        case "function_call"?:
            self = .functionCall(callID: try string("call_id")!, name: try string("name")!, arguments: try string("arguments")!)
        case "function_call_output"?:
            let callID = try string("call_id")!
            if let text = try? c.decode(String.self, forKey: Key("output")) {
                self = .functionCallOutput(callID: callID, output: text)
                return
            }
            guard let raw = try? c.decode([JSONValue].self, forKey: Key("output")) else {
                if !c.contains(Key("output")) {
                    throw APIError.invalidRequest("Missing required parameter: '\(path).output'.", code: "missing_required_parameter", param: "\(path).output")
                }
                throw APIError.invalidRequest(
                    "Invalid type for '\(path).output': expected a string or an array of content parts.", code: "invalid_type", param: "\(path).output"
                )
            }
            // The upstream takes a tool's result as text: text parts only.
            var texts: [String] = []
            for (index, part) in raw.enumerated() {
                let partParam = "\(path).output[\(index)]"
                switch try ResponsesRequest.contentPart(part, role: "tool", param: partParam) {
                case .text(let t): texts.append(t)
                case .image:
                    throw APIError.invalidRequest(
                        "\(partParam): an image in a function_call_output is not supported: JetBrains AI takes a tool's result as text",
                        code: "unsupported_content", param: "\(partParam).type"
                    )
                }
            }
            self = .functionCallOutput(callID: callID, output: texts.joined(separator: "\n"))
        case "reasoning"?:
            self = .reasoning
        case let other?:
            let why = ResponsesRequest.refusedItemTypes[other]
                ?? "only messages, function_call and function_call_output items can be sent to JetBrains AI"
            throw APIError.invalidRequest(
                "\(path): input items of type '\(other)' are not supported: \(why).",
                code: "unsupported_input_item", param: "\(path).type"
            )
        }
    }
}

extension ResponsesRequest {
    /// One content part of a message (or of a function_call_output).
    static func contentPart(_ raw: JSONValue, role: String, param: String) throws(APIError) -> ContentPart {
        guard let part = raw.objectValue else { throw typeError(param, expected: "a content part object") }
        switch part["type"]?.stringValue {
        case "input_text"?, "output_text"?, "text"?:
            guard let text = part["text"]?.stringValue else {
                throw APIError.invalidRequest("Missing required parameter: '\(param).text'.", code: "missing_required_parameter", param: "\(param).text")
            }
            return .text(text)
        case "refusal"?:
            return .text(part["refusal"]?.stringValue ?? "")
        case "input_image"?:
            guard role == "user" || role == "tool" else {
                throw APIError.invalidRequest(
                    "\(param): input_image is only supported in user messages", code: "unsupported_content", param: "\(param).type"
                )
            }
            guard let url = part["image_url"]?.stringValue, !url.isEmpty else {
                let what = part["file_id"] != nil ? "file_id images are not supported (this gateway has no file store); " : ""
                throw APIError.invalidRequest(
                    "\(param): \(what)an input_image needs 'image_url' as a data: URL with base64 data",
                    code: "unsupported_content", param: "\(param).image_url"
                )
            }
            guard ChatTranslator.parseDataURL(url) != nil else {
                throw APIError.invalidRequest(
                    "\(param): only data: URLs with base64 images are supported (e.g. data:image/png;base64,…); "
                        + "this gateway does not fetch image URLs",
                    code: "unsupported_content", param: "\(param).image_url"
                )
            }
            return .image(url)
        case let other:
            throw APIError.invalidRequest(
                "\(param): content parts of type '\(other ?? "")' are not supported (expected input_text, input_image or output_text)",
                code: "unsupported_content", param: "\(param).type"
            )
        }
    }

    /// `input[2].content[0]` from a coding path.
    static func param(_ path: [any CodingKey]) -> String {
        var out = ""
        for key in path {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                out += out.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return out
    }

    /// The 400 for JSON of the wrong type in a field that is decoded as a plain value.
    static func describe(_ error: DecodingError) -> APIError {
        switch error {
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let param = Self.param(context.codingPath)
            if param.isEmpty {
                return APIError.invalidRequest("Invalid request body: expected a JSON object", code: "invalid_request_body")
            }
            let expected: String
            switch type {
            case is String.Type: expected = "a string"
            case is Bool.Type: expected = "a boolean"
            case is Int.Type: expected = "an integer"
            case is Double.Type: expected = "a number"
            case is [JSONValue].Type, is [InputItem].Type: expected = "an array"
            default: expected = "a value of another type"
            }
            return APIError.invalidRequest("Invalid type for '\(param)': expected \(expected).", code: "invalid_type", param: param.isEmpty ? nil : param)
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return APIError.invalidRequest("Invalid request body: not JSON", code: "invalid_json")
            }
            let param = Self.param(context.codingPath)
            return APIError.invalidRequest("Invalid value for '\(param)': \(context.debugDescription)", code: "invalid_value", param: param)
        case .keyNotFound(let key, let context):
            let param = Self.param(context.codingPath + [key])
            return APIError.invalidRequest("Missing required parameter: '\(param)'.", code: "missing_required_parameter", param: param)
        @unknown default:
            return APIError.invalidRequest("Invalid request body: \(error)", code: "invalid_request_body")
        }
    }
}
