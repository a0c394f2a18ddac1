import Foundation
import NIOCore
import NIOHTTP1
import Shared

/// Entry points for the fuzz targets (`Sources/FuzzTargets`): each takes untrusted bytes the
/// way the worker receives them and runs them through the same decoding and translation code.
/// They return normally for any input; a broken invariant traps (which is what the fuzzer
/// looks for). `package`, not `public`: only this package's fuzz targets and tests call them.
package enum WorkerFuzz {
    /// The translations every decoded request goes through: both API versions, a profile of
    /// each parameter family and a Codex profile (which refuses tools).
    private static let translations: [(APIVersion, String)] = [
        (.v8, "openai-gpt-4o"), (.v8, "anthropic-claude-4-sonnet"), (.v8, "google-chat-gemini-pro-2.5"),
        (.v7, "openai-gpt-5"), (.v8, "openai-gpt-5-codex"),
    ]

    /// A body decoded as its endpoint decodes it; a decoding error goes through the describer
    /// that words the endpoint's 400.
    private static func decoded<T: Decodable>(_ type: T.Type, _ data: Data) -> T? {
        do {
            return try JSONDecoder.shared.decode(T.self, from: data)
        } catch let error as DecodingError {
            _ = SeedSettings.describe(error)
            return nil
        } catch {
            return nil
        }
    }

    /// `POST /v1/chat/completions`: the body decoder, its error message, and the translation.
    package static func chatCompletion(_ data: Data) {
        guard let body = decoded(ChatCompletionRequest.self, data) else { return }
        _ = OpenAIChatEncoder(model: body.model, includeUsage: body.streamOptions?.includeUsage ?? false, promptTokens: TokenEstimator.inputTokens(of: body))
        translate(body)
    }

    /// `POST /v1/messages` and `/v1/messages/count_tokens`: the body decoder, the step to the
    /// internal chat request (with and without `max_tokens` required, image URLs on and off),
    /// and the translation.
    package static func messages(_ data: Data) {
        guard let body = decoded(MessagesRequest.self, data) else { return }
        for (requireMaxTokens, allowImageURLs) in [(true, false), (false, true)] {
            guard let chat = try? body.chatRequest(requireMaxTokens: requireMaxTokens, allowImageURLs: allowImageURLs) else { continue }
            _ = AnthropicEncoder(model: body.model, inputTokens: TokenEstimator.inputTokens(of: chat))
            translate(chat)
        }
    }

    /// `POST /v1/responses`: the decoder (whose errors are `APIError`s naming the field), the
    /// internal chat request, the translation, and the response object that echoes the
    /// request's fields back.
    package static func responses(_ data: Data) {
        guard let body = try? ProxyEndpoints.decodeResponsesRequest(data) else { return }
        let chat = body.chatRequest()
        translate(chat)
        let encoder = ResponsesEncoder(
            model: body.model, echo: body.echo, inputTokens: TokenEstimator.inputTokens(of: chat),
            namespaces: Dictionary(body.tools.compactMap { tool in tool.namespace.map { (tool.name, $0) } }, uniquingKeysWith: { a, _ in a })
        )
        var answer = AnswerBuilder(makeID: { "call_fuzz" })
        _ = answer.apply(.content("ok"))
        _ = answer.apply(.end)
        if let whole = try? encoder.whole(answer) { requireJSON(whole, "the Responses API's whole answer") }
    }

    private static func translate(_ request: ChatCompletionRequest) {
        for (version, profile) in translations {
            guard let translation = try? ChatTranslator(apiVersion: version).translate(request, profile: profile) else { continue }
            guard let encoded = try? JSONEncoder.shared.encode(translation.request) else {
                preconditionFailure("a translated request could not be encoded")
            }
            requireJSON(String(decoding: encoded, as: UTF8.self), "the upstream request")
            // The hand-written body the worker sends says what JSONEncoder says.
            let sent = String(buffer: translation.request.jsonBuffer)
            precondition(
                JSONValue(parsing: sent) == JSONValue(parsing: String(decoding: encoded, as: UTF8.self)),
                "the hand-written upstream request differs from JSONEncoder's: \(sent.prefix(200))"
            )
        }
    }

    /// The upstream's chat stream: the SSE parser (fed whole and in small pieces, which must give
    /// the same events), the event decoder, the answer builder, and every front's encoder, whose
    /// frames must stay well-formed SSE carrying JSON whatever the upstream sent. Also the quota
    /// endpoint's reader on the same bytes.
    package static func upstreamStream(_ data: Data) {
        if case .exhausted(_, let until?) = QuotaAnswer.parse(data) {
            // A token waits for this time: one that never comes (NaN) would keep it out for good.
            precondition(until.timeIntervalSince1970.isFinite, "the quota reader produced a reset time of \(until.timeIntervalSince1970)")
        }

        var whole = SSEParser()
        let payloads = whole.feed(data) + whole.finish()
        var pieces = SSEParser()
        var pieced: [String] = []
        let step = data.count % 13 + 1
        var start = data.startIndex
        while start < data.endIndex {
            let end = min(start + step, data.endIndex)
            pieced += pieces.feed(data[start..<end])
            start = end
        }
        pieced += pieces.finish()
        precondition(payloads == pieced, "the SSE parser's events depend on how the bytes were split")

        var encoders: [any AnswerEncoder] = [
            OpenAIChatEncoder(model: "m", includeUsage: true, promptTokens: 1),
            AnthropicEncoder(model: "m", inputTokens: 1),
            ResponsesEncoder(model: "m", echo: .init(), inputTokens: 1),
        ]
        var builder = AnswerBuilder(makeID: { "call_fuzz" })
        var started = false
        var frames = ""
        for payload in payloads {
            // Where the fast scanner answers, it answers what the general decoder does.
            if let fast = EventScanner.event(payload) {
                precondition(fast == (try? UpstreamEvent.decodeGeneral(payload)), "the event scanner and the decoder disagree on \(payload.prefix(200))")
            }
        }
        for payload in payloads {
            guard let event = try? UpstreamEvent.decode(payload) else { break }  // a broken stream: the attempt fails
            if case .error = event { break }
            let deltas = builder.apply(event)
            if !deltas.isEmpty || builder.ended, !started {
                started = true
                for i in encoders.indices { frames += (try? encoders[i].opening()) ?? "" }
            }
            if !deltas.isEmpty {
                for i in encoders.indices { frames += (try? encoders[i].frames(for: deltas)) ?? "" }
            }
            if builder.ended { break }
        }
        let error = APIError(status: .badGateway, message: "Upstream failed mid-stream", type: "upstream_error", code: "upstream_error")
        for i in encoders.indices {
            if builder.ended {
                frames += (try? encoders[i].closing(builder)) ?? ""
                if let answer = try? encoders[i].whole(builder) { requireJSON(answer, "a whole answer") }
            } else {
                frames += encoders[i].failure(error, started: started)
            }
        }
        requireSSE(frames)
    }

    /// The line the supervisor sends a worker on stdin, and what the worker takes from it.
    package static func supervisedStart(_ data: Data) {
        guard let start = try? JSONDecoder.control().decode(SupervisedStart.self, from: data) else { return }
        _ = start.tenant.tokens.map(\.name)
    }

    /// Each `data:` payload a client gets is JSON (or `[DONE]`), and the stream has no stray
    /// lines: upstream text must never break the client's framing.
    private static func requireSSE(_ text: String) {
        var parser = SSEParser()
        for payload in parser.feed(Array(text.utf8)) + parser.finish() where payload != "[DONE]" {
            requireJSON(payload, "an SSE payload sent to the client")
        }
    }

    private static func requireJSON(_ text: String, _ what: String) {
        precondition(
            (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil,
            "\(what) is not JSON: \(text.prefix(200))"
        )
    }
}
