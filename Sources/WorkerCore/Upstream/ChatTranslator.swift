import Foundation
import Shared

/// A request the upstream cannot express; answered 400 to the client.
struct TranslationError: Error, Equatable {
    var message: String
    var param: String?
}

/// An OpenAI chat request, translated: the upstream body, which endpoint takes it, and the
/// tool-call ids that had to be shortened (upstream id → the client's own).
struct Translation: Sendable, Equatable {
    var request: JetBrainsChatRequest
    /// A Codex profile: the responses endpoint, without tools or parameters.
    var codex: Bool
    var restoredToolIDs: [String: String]
}

/// Translates an OpenAI chat request into a JetBrains AI chat request (v8 or v7). Strict in
/// what it sends: parameters only for the profile families that take them, no empty assistant
/// messages, tool-call ids within 40 characters.
struct ChatTranslator: Sendable {
    var apiVersion: APIVersion
    /// A tenant's parameter sets per profile (`models` entries with `parameters`).
    var parameterOverrides: [String: [String]] = [:]

    func translate(_ request: ChatCompletionRequest, profile: String) throws(TranslationError) -> Translation {
        let codex = ModelTable.isCodexProfile(profile)
        if codex, !(request.tools ?? []).isEmpty || !(request.functions ?? []).isEmpty {
            throw TranslationError(
                message: "'\(request.model)' is a Codex profile: JetBrains AI serves it on its responses endpoint, which takes no tools",
                param: "tools"
            )
        }
        var ids = ToolIDMap()
        var toolNames: [String: String] = [:]  // tool_call_id → function name, for tool results
        var messages: [JetBrainsMessage] = []
        for (index, message) in request.messages.enumerated() {
            messages += try translate(message, at: index, toolNames: &toolNames, ids: &ids)
        }
        let prompt = apiVersion == .v8 ? "ij.chat.request.new-chat-on-start" : "ij.chat.request.new-chat"
        let parameters = codex ? nil : parameters(for: request, profile: profile)
        return Translation(
            request: JetBrainsChatRequest(
                prompt: prompt,
                profile: profile,
                chat: .init(messages: messages),
                parameters: parameters
            ),
            codex: codex,
            restoredToolIDs: ids.restored
        )
    }

    private func translate(
        _ message: ChatMessage,
        at index: Int,
        toolNames: inout [String: String],
        ids: inout ToolIDMap
    ) throws(TranslationError) -> [JetBrainsMessage] {
        let text = message.content?.plainText ?? ""
        switch message.role {
        case "system", "developer":
            return [.system(text)]
        case "user":
            return try userMessages(message.content, at: index)
        case "assistant":
            var calls = (message.toolCalls ?? []).map { ($0.id, $0.function.name, $0.function.arguments) }
            if let legacy = message.functionCall {
                calls.append(("call_\(index)", legacy.name, legacy.arguments))
            }
            for (id, name, _) in calls { toolNames[id] = name }
            calls = calls.map { (ids.upstream(for: $0.0), $0.1, $0.2.isEmpty ? "{}" : $0.2) }
            // Public clients never send an empty assistant message: the service rejects it.
            if apiVersion == .v7 {
                if calls.isEmpty { return text.isEmpty ? [] : [.assistantV7(content: text, functionName: nil, arguments: nil)] }
                return calls.enumerated().map { offset, call in
                    .assistantV7(content: offset == 0 ? text : "", functionName: call.1, arguments: call.2)
                }
            }
            var out: [JetBrainsMessage] = []
            if !text.isEmpty { out.append(.assistantText(text)) }
            out += calls.map { .assistantTool(id: $0.0, toolName: $0.1, arguments: $0.2) }
            return out
        case "tool", "function":
            let id = message.toolCallID ?? ""
            let name = toolNames[id] ?? message.name ?? ""
            if message.role == "tool" && message.toolCallID == nil {
                throw TranslationError(message: "messages[\(index)]: a tool message needs tool_call_id", param: "messages[\(index)].tool_call_id")
            }
            if apiVersion == .v7 { return [.functionResultV7(functionName: name, content: text)] }
            return [.toolResult(id: ids.upstream(for: id), toolName: name, result: text)]
        default:
            throw TranslationError(
                message: "messages[\(index)]: unsupported role '\(message.role)' (expected system, developer, user, assistant or tool)",
                param: "messages[\(index)].role"
            )
        }
    }

    private func userMessages(_ content: MessageContent?, at index: Int) throws(TranslationError) -> [JetBrainsMessage] {
        guard case .parts(let parts) = content else { return [.user(content?.plainText ?? "")] }
        var out: [JetBrainsMessage] = []
        var pendingText: [String] = []
        func flush() {
            if !pendingText.isEmpty { out.append(.user(pendingText.joined(separator: "\n"))) }
            pendingText = []
        }
        for (partIndex, part) in parts.enumerated() {
            switch part {
            case .text(let t):
                pendingText.append(t)
            case .imageURL(let url):
                guard let media = Self.parseDataURL(url) else {
                    throw TranslationError(
                        message: "messages[\(index)].content[\(partIndex)]: only data: URLs with base64 images are supported "
                            + "(a tenant with fetch_image_urls: true also takes http(s) image URLs)",
                        param: "messages[\(index)].content[\(partIndex)].image_url"
                    )
                }
                flush()
                out.append(.media(mediaType: media.mediaType, data: media.data))
            case .unsupported(let type):
                throw TranslationError(
                    message: "messages[\(index)].content[\(partIndex)]: unsupported content part type '\(type)'",
                    param: "messages[\(index)].content[\(partIndex)].type"
                )
            }
        }
        flush()
        return out.isEmpty ? [.user("")] : out
    }

    /// `data:image/png;base64,AAAA` → ("image/png", "AAAA").
    static func parseDataURL(_ url: String) -> (mediaType: String, data: String)? {
        guard url.hasPrefix("data:"), let comma = url.firstIndex(of: ",") else { return nil }
        let meta = url[url.index(url.startIndex, offsetBy: 5)..<comma]
        guard meta.hasSuffix(";base64") else { return nil }
        let mediaType = String(meta.dropLast(";base64".count))
        let data = String(url[url.index(after: comma)...])
        guard !mediaType.isEmpty, !data.isEmpty else { return nil }
        return (mediaType, data)
    }

    /// `parameters.data`: the tools and tool choice (every chat profile takes them), then each
    /// sampling parameter the profile's family takes; nil when there is nothing to send.
    func parameters(for request: ChatCompletionRequest, profile: String) -> JetBrainsChatRequest.Parameters? {
        var parameters = JetBrainsChatRequest.Parameters(data: [])
        var functions = (request.tools ?? []).map(\.function) + (request.functions ?? [])
        if case .function(let name)? = request.toolChoice {
            let only = functions.filter { $0.name == name }
            if !only.isEmpty { functions = only }
        }
        if !functions.isEmpty {
            parameters.append(
                apiVersion == .v8 ? "llm.parameters.tools" : "llm.parameters.functions",
                .json(toolsJSON(functions).jsonText)
            )
            if apiVersion == .v8 {
                switch request.toolChoice {
                case .auto?: parameters.append("llm.parameters.tool-choice-auto", .bool(true))
                case .none?: parameters.append("llm.parameters.tool-choice-none", .bool(true))
                case .required?: parameters.append("llm.parameters.tool-choice-required", .bool(true))
                case .function(let name)?: parameters.append("llm.parameters.tool-choice-named", .text(name))
                case nil: break
                }
            }
        }
        let accepted = ProfileParameters.accepted(by: profile, overrides: parameterOverrides)
        func add(_ parameter: UpstreamParameter, _ value: JetBrainsChatRequest.Value?) {
            guard let value, accepted.contains(parameter) else { return }
            parameters.append(parameter.fqdn, value)
        }
        add(.temperature, request.temperature.map { .double($0) })
        add(.topP, request.topP.map { .double($0) })
        add(.topK, request.topK.map { .int($0) })
        add(.length, (request.maxCompletionTokens ?? request.maxTokens).map { .int($0) })
        // The upstream takes one stop text; the first of several is sent.
        add(.stopToken, request.stop?.values.first(where: { !$0.isEmpty }).map { .text($0) })
        add(.seed, request.seed.map { .int($0) })
        if let format = request.responseFormat, format["type"]?.stringValue != "text" {
            add(.responseFormat, .json(format.jsonText))
        }
        add(.reasoningEffort, request.reasoningEffort.map { .text($0) })
        add(.verbosity, request.verbosity.map { .text($0) })
        add(.thinkingBudget, request.thinkingBudget.map { .int($0) })
        if !functions.isEmpty { add(.parallelToolCalls, request.parallelToolCalls.map { .bool($0) }) }
        return parameters.data.isEmpty ? nil : parameters
    }

    /// v8: `[{name, description, parameters: {schema}}]`; v7: the plain OpenAI function objects.
    private func toolsJSON(_ functions: [FunctionDefinition]) -> JSONValue {
        let empty = JSONValue.object(["type": .string("object"), "properties": .object([:])])
        return .array(functions.map { f in
            var tool: [String: JSONValue] = ["name": .string(f.name)]
            tool["parameters"] = apiVersion == .v8 ? .object(["schema": f.parameters ?? empty]) : (f.parameters ?? empty)
            if let d = f.description { tool["description"] = .string(d) }
            return .object(tool)
        })
    }
}

/// Tool-call ids as the upstream takes them: at most 40 characters (one public client's limit).
/// A longer client id is replaced by a stable digest of it, so the same id maps the same way in
/// every request of a conversation, and the answer gives the client its own id back.
struct ToolIDMap: Sendable {
    static let maxLength = 40
    /// Upstream id → client id, for the ids that were shortened.
    private(set) var restored: [String: String] = [:]

    mutating func upstream(for id: String) -> String {
        guard id.utf8.count > Self.maxLength else { return id }
        let short = Self.shorten(id)
        restored[short] = id
        return short
    }

    /// `call_` + 32 hex digits of two FNV-1a hashes: 37 characters.
    static func shorten(_ id: String) -> String {
        func fnv(_ seed: UInt64) -> UInt64 {
            var hash = seed
            for byte in id.utf8 {
                hash ^= UInt64(byte)
                hash &*= 0x100_0000_01b3
            }
            return hash
        }
        func hex(_ v: UInt64) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return "call_" + hex(fnv(0xcbf2_9ce4_8422_2325)) + hex(fnv(0x84222325_cbf29ce4))
    }
}
