import Foundation
import Shared

/// A request the upstream cannot express; answered 400 to the client.
struct TranslationError: Error, Equatable {
    var message: String
    var param: String?
}

/// Translates an OpenAI chat request into a JetBrains AI chat request (v8 or v7).
struct ChatTranslator: Sendable {
    var apiVersion: APIVersion

    func translate(_ request: ChatCompletionRequest, profile: String, now: Date = Date()) throws(TranslationError) -> JetBrainsChatRequest {
        var toolNames: [String: String] = [:]  // tool_call_id → function name, for tool results
        var messages: [JetBrainsMessage] = []
        for (index, message) in request.messages.enumerated() {
            messages += try translate(message, at: index, toolNames: &toolNames)
        }
        let prompt = apiVersion == .v8 ? "ij.chat.request.new-chat-on-start" : "ij.chat.request.new-chat"
        return JetBrainsChatRequest(
            prompt: prompt,
            profile: profile,
            chat: .init(messages: messages),
            parameters: toolParameters(for: request, now: now)
        )
    }

    private func translate(
        _ message: ChatMessage,
        at index: Int,
        toolNames: inout [String: String]
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
            if apiVersion == .v7 {
                if calls.isEmpty { return [.assistantV7(content: text, functionName: nil, arguments: nil)] }
                return calls.enumerated().map { offset, call in
                    .assistantV7(content: offset == 0 ? text : "", functionName: call.1, arguments: call.2)
                }
            }
            var out: [JetBrainsMessage] = []
            if !text.isEmpty || calls.isEmpty { out.append(.assistantText(text)) }
            out += calls.map { .assistantTool(id: $0.0, toolName: $0.1, arguments: $0.2) }
            return out
        case "tool", "function":
            let id = message.toolCallID ?? ""
            let name = toolNames[id] ?? message.name ?? ""
            if message.role == "tool" && message.toolCallID == nil {
                throw TranslationError(message: "messages[\(index)]: a tool message needs tool_call_id", param: "messages[\(index)].tool_call_id")
            }
            if apiVersion == .v7 { return [.functionResultV7(functionName: name, content: text)] }
            return [.toolResult(id: id, toolName: name, result: text)]
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
                        message: "messages[\(index)].content[\(partIndex)]: only data: URLs with base64 images are supported",
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

    private func toolParameters(for request: ChatCompletionRequest, now: Date) -> JetBrainsChatRequest.Parameters? {
        var functions = (request.tools ?? []).map(\.function) + (request.functions ?? [])
        switch request.toolChoice {
        case .none?: return nil
        case .function(let name)?: functions = functions.filter { $0.name == name }
        default: break
        }
        guard !functions.isEmpty else { return nil }
        let value: JSONValue
        let fqdn: String
        if apiVersion == .v8 {
            fqdn = "llm.parameters.tools"
            value = .array(functions.map { f in
                var tool: [String: JSONValue] = [
                    "name": .string(f.name),
                    "parameters": .object(["schema": f.parameters ?? .object(["type": .string("object"), "properties": .object([:])])]),
                ]
                if let d = f.description { tool["description"] = .string(d) }
                return .object(tool)
            })
        } else {
            fqdn = "llm.parameters.functions"
            value = .array(functions.map { f in
                var fn: [String: JSONValue] = [
                    "name": .string(f.name),
                    "parameters": f.parameters ?? .object(["type": .string("object"), "properties": .object([:])]),
                ]
                if let d = f.description { fn["description"] = .string(d) }
                return .object(fn)
            })
        }
        return .init(data: [
            .init(fqdn: fqdn),
            .init(value: value.jsonText, modified: Int64(now.timeIntervalSince1970 * 1000)),
        ])
    }
}
