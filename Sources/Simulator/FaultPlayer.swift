import NIOHTTP1
import Shared

/// Carries out an injected fault.
enum FaultPlayer {
    enum Outcome {
        /// The fault answered (or will never answer) the request.
        case handled
        /// Answer normally, cutting the connection after `dropAfter` events when set.
        case proceed(dropAfter: Int?)
        /// Answer normally, but put an error event in the stream (`error_event`, chat only).
        case errorEvent(Fault)
    }

    /// `streaming`: the endpoint answers with server-sent events (shapes `garbage`).
    /// `served`: the profiles in the `Unsupported model [...]` body of a `400` status fault.
    static func play(_ fault: Fault, writer: ResponseWriter, streaming: Bool, served: [String] = []) async throws -> Outcome {
        switch fault.kind {
        case .status:
            var headers: HTTPHeaders = [:]
            if let retryAfter = fault.retryAfter { headers.add(name: "retry-after", value: String(retryAfter)) }
            if let body = fault.body {
                try await writer.sendBody(.code(fault.status), body, headers: headers)
            } else if fault.status == 400 {
                try await writer.sendText(.badRequest, ProfileCatalog.unsupportedModel(served), headers: headers)
            } else if fault.status == 451 {
                try await writer.send(.code(451), ["message": "Unavailable For Legal Reasons"], headers: headers)
            } else {
                try await writer.sendError(
                    .code(fault.status), code: "injected_fault",
                    message: "injected status \(fault.status) (\(fault.id))", headers: headers
                )
            }
            return .handled
        case .errorEvent:
            return .errorEvent(fault)
        case .delay:
            try await Task.sleep(for: .milliseconds(fault.delayMs))
            return .proceed(dropAfter: nil)
        case .hang:
            // Until the client goes away: the server cancels this task then.
            while true { try await Task.sleep(for: .seconds(3600)) }
        case .drop:
            return .proceed(dropAfter: fault.afterEvents)
        case .garbage:
            writer.closeConnectionAfterResponse()
            if streaming {
                try await writer.writeHead(status: .ok, headers: SSEWriter.headers)
                try await writer.write("data: {\"type\":\"Content\",\"content\":\"unterminated\n\n")
                try await writer.write("data: <<<this is not JSON>>>\n\n")
                try await writer.write("data: \u{1}\u{2}garbage\n\n")
            } else {
                try await writer.writeHead(status: .ok, headers: ["content-type": "application/json"])
                try await writer.write("<<<this is not JSON>>>")
            }
            try await writer.end()
            return .handled
        }
    }

    /// A non-streaming answer cut short: the head promises the whole body, half of it is
    /// sent, then the connection closes.
    static func sendTruncated(_ json: SimJSON, writer: ResponseWriter) async throws -> Never {
        let text = json.text
        let half = String(decoding: Array(text.utf8).prefix(text.utf8.count / 2), as: UTF8.self)
        try await writer.writeHead(
            status: .ok, headers: ["content-type": "application/json", "content-length": String(text.utf8.count)]
        )
        try await writer.write(half)
        throw DropConnection()
    }
}
