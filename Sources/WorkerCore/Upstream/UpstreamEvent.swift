import Foundation
import Shared

/// One event of the upstream chat stream.
///
/// Read tolerantly (see `../shared/jetbrains-ai-protocol.md`): unknown event types and unknown
/// fields are ignored, numbers and strings are interchangeable, and a metadata event whose
/// shape is unexpected is `.undecodable` — skipped, never a failed answer.
enum UpstreamEvent: Sendable, Equatable {
    case content(String)
    /// A tool-call piece. v8 `ToolCall`: `id`/`name` on the first piece of each call, pieces
    /// grouped by `parallelToolIndex` (`index`). v7 `FunctionCall`: `name` on the first piece.
    case toolCall(ToolCallPiece)
    case finish(reason: String)
    case quota(QuotaReport)
    /// `event_type: "error"`: the service reports a failure inside a 200 stream.
    case error(message: String)
    case end
    /// An event type the worker does not use (`UnknownMetadata`, `ExecutionMetadata`, …).
    case ignored(type: String)
    /// A metadata event the worker would read but whose shape it does not understand.
    case undecodable(type: String)

    struct ToolCallPiece: Sendable, Equatable {
        var id: String?
        var name: String?
        var arguments: String
        /// `parallelToolIndex`; nil when absent.
        var index: Int?

        init(id: String? = nil, name: String? = nil, arguments: String, index: Int? = nil) {
            self.id = id
            self.name = name
            self.arguments = arguments
            self.index = index
        }
    }

    /// A `data:` payload that is not JSON at all: the stream itself is broken.
    struct MalformedEvent: Error, CustomStringConvertible {
        var payload: String
        var description: String { "malformed upstream event: \(payload.prefix(120))" }
    }

    /// Decodes one `data:` payload.
    static func decode(_ payload: String) throws(MalformedEvent) -> UpstreamEvent {
        if payload == "end" { return .end }
        // The hot path (one call per streamed event): the common events in one pass over the
        // bytes; whatever that pass does not answer for, the lenient Codable decoder reads.
        if let event = EventScanner.event(payload) { return event }
        return try decodeGeneral(payload)
    }

    /// The lenient Codable reading of a payload, for every event `EventScanner` leaves to it.
    static func decodeGeneral(_ payload: String) throws(MalformedEvent) -> UpstreamEvent {
        if payload == "end" { return .end }
        // A typed decode, not a generic JSON tree.
        let raw: RawEvent
        do {
            raw = try decoder.decode(RawEvent.self, from: Data(payload.utf8))
        } catch {
            // Valid JSON that is not an object (an array, a number) is an event we cannot use,
            // not a broken stream.
            if (try? JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed])) != nil {
                return .ignored(type: "")
            }
            throw MalformedEvent(payload: payload)
        }
        return raw.event
    }

    private static let decoder = JSONDecoder()

    /// Every field any event type may carry, each read leniently.
    private struct RawEvent: Decodable {
        var event: UpstreamEvent

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            let type = c.lenientString(AnyKey("type")) ?? ""
            if c.lenientString(AnyKey("event_type"))?.lowercased() == "error" || type == "error" || type == "Error" {
                let message = c.lenientString(AnyKey("error_message")) ?? c.lenientString(AnyKey("errorMessage"))
                    ?? c.lenientString(AnyKey("message")) ?? c.lenientString(AnyKey("content"))
                event = .error(message: message ?? "the upstream reported an error without a message")
                return
            }
            switch type {
            case "Content":
                event = .content(c.lenientString(AnyKey("content")) ?? "")
            case "ToolCall", "FunctionCall":
                event = .toolCall(ToolCallPiece(
                    id: c.lenientString(AnyKey("id")),
                    name: c.lenientString(AnyKey("name")),
                    arguments: c.lenientString(AnyKey("content")) ?? "",
                    index: c.lenientInt(AnyKey("parallelToolIndex"))
                ))
            case "FinishMetadata":
                event = .finish(reason: c.lenientString(AnyKey("reason")) ?? "stop")
            case "QuotaMetadata":
                let spent = c.lenient(QuotaAmount.self, AnyKey("spent"))
                let updated = c.lenient(QuotaBlock.self, AnyKey("updated"))
                let until = updated?.until ?? c.lenientInstant(AnyKey("until"))
                let report = QuotaReport(
                    spent: spent?.text, current: updated?.current?.text, maximum: updated?.maximum?.text,
                    until: until?.text, available: updated?.available?.text
                )
                event = report.isEmpty ? .undecodable(type: type) : .quota(report)
            default:
                event = .ignored(type: type)
            }
        }
    }
}
