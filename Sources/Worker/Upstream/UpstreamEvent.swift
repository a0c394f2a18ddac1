import Foundation
import Shared

/// One event of the upstream chat stream.
enum UpstreamEvent: Sendable, Equatable {
    case content(String)
    /// A tool-call piece. `id`/`name` are set on the first piece of a call (v8 `ToolCall`),
    /// v7 `FunctionCall` carries only `name` on its first piece.
    case toolCall(id: String?, name: String?, arguments: String)
    case finish(reason: String)
    case quota(QuotaReport)
    case end
    case ignored(type: String)

    struct QuotaReport: Sendable, Equatable, Codable {
        var spent: String?
        var current: String?
        var maximum: String?
        var until: String?
    }

    struct MalformedEvent: Error, CustomStringConvertible {
        var payload: String
        var description: String { "malformed upstream event: \(payload.prefix(120))" }
    }

    /// Decodes one `data:` payload.
    static func decode(_ payload: String) throws(MalformedEvent) -> UpstreamEvent {
        if payload == "end" { return .end }
        guard let json = JSONValue(parsing: payload), case .object(let o) = json, let type = o["type"]?.stringValue else {
            throw MalformedEvent(payload: payload)
        }
        switch type {
        case "Content":
            return .content(o["content"]?.stringValue ?? "")
        case "ToolCall", "FunctionCall":
            return .toolCall(id: o["id"]?.stringValue, name: o["name"]?.stringValue, arguments: o["content"]?.stringValue ?? "")
        case "FinishMetadata":
            return .finish(reason: o["reason"]?.stringValue ?? "stop")
        case "QuotaMetadata":
            let updated = o["updated"]
            return .quota(QuotaReport(
                spent: amount(o["spent"]?["amount"]),
                current: amount(updated?["current"]?["amount"]),
                maximum: amount(updated?["maximum"]?["amount"]),
                until: updated?["until"]?.stringValue ?? o["until"]?.stringValue
            ))
        default:
            return .ignored(type: type)
        }
    }

    private static func amount(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let s)?: return s
        case .number(let n)?: return String(n)
        default: return nil
        }
    }
}
