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
        // A typed decode: the hot path (one call per streamed event) must not go through a
        // generic JSON tree.
        guard let raw = try? decoder.decode(RawEvent.self, from: Data(payload.utf8)) else {
            throw MalformedEvent(payload: payload)
        }
        switch raw.type {
        case "Content":
            return .content(raw.content ?? "")
        case "ToolCall", "FunctionCall":
            return .toolCall(id: raw.id, name: raw.name, arguments: raw.content ?? "")
        case "FinishMetadata":
            return .finish(reason: raw.reason ?? "stop")
        case "QuotaMetadata":
            return .quota(QuotaReport(
                spent: raw.spent?.amount?.text,
                current: raw.updated?.current?.amount?.text,
                maximum: raw.updated?.maximum?.amount?.text,
                until: raw.updated?.until ?? raw.until
            ))
        default:
            return .ignored(type: raw.type)
        }
    }

    private static let decoder = JSONDecoder()

    /// Every field any event type may carry; unknown fields are ignored.
    private struct RawEvent: Decodable {
        var type: String
        var content: String?
        var id: String?
        var name: String?
        var reason: String?
        var spent: Holder?
        var updated: Updated?
        var until: String?

        struct Holder: Decodable { var amount: Amount? }
        struct Updated: Decodable {
            var current: Holder?
            var maximum: Holder?
            var until: String?
        }
    }

    /// An amount sent as a string ("12.5") or a number (12.5).
    private struct Amount: Decodable {
        var text: String
        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) {
                text = s
            } else {
                text = String(try c.decode(Double.self))
            }
        }
    }
}
