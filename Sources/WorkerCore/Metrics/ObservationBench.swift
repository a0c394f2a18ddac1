import Foundation
import NIOCore
import NIOHTTP1
import Shared

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What observing one request costs, measured in-process (`jbai-microbench`, run by
/// `scripts/bench.sh --only m`): the part of a request's CPU that metrics and the access log
/// add, too small to see in an end-to-end run whose noise is ±10 %.
public enum ObservationBench {
    public struct Row: Sendable {
        public var name: String
        public var nanosecondsPerRequest: Double
    }

    /// Each step on its own, then all of them together the way a request does them.
    public static func run(iterations: Int) -> [Row] {
        let metrics = WorkerMetrics(tenant: "bench")
        let devNull = open("/dev/null", O_WRONLY)
        defer { close(devNull) }
        let key = "sk-bench-0123456789abcdefghijklmnop"
        let auth = ClientAuthenticator(keys: ["sk-other-0123456789abcdefghijklmnop", key, "sk-third-0123456789abcdefghij"])
        let headers = HTTPHeaders([("authorization", "Bearer \(key)"), ("content-type", "application/json")])
        let text = AccessLog(format: .text, tenant: "bench")
        let json = AccessLog(format: .json, tenant: "bench")
        let models = ["gpt-4o", "claude-sonnet-4", "gpt-5"]
        func entry(_ i: Int) -> AccessLog.Entry {
            AccessLog.Entry(
                time: Date(), api: "chat", model: models[i % 3], status: 200, duration: .microseconds(1234),
                firstByte: .microseconds(456), attempts: 1, token: "jwt-1", key: "alice")
        }
        var rows: [Row] = []
        func measure(_ name: String, _ body: (Int) -> Void) {
            for i in 0..<min(iterations, 1000) { body(i) }  // warm: series made, caches filled
            let start = ContinuousClock.now
            for i in 0..<iterations { body(i) }
            let elapsed = ContinuousClock.now - start
            let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
            rows.append(Row(name: name, nanosecondsPerRequest: ns / Double(iterations)))
        }
        measure("authenticate (3 keys, Bearer)") { _ in precondition(auth.matchedName(headers) != nil) }
        measure("metrics: started, attempt, finished") { i in
            metrics.requestStarted()
            metrics.attempted(token: "jwt-1", outcome: "success")
            metrics.requestFinished(
                api: .chat, model: models[i % 3], status: 200, duration: .microseconds(1234), firstByte: .microseconds(456))
        }
        measure("access log line, text") { i in _ = text.line(entry(i)) }
        measure("access log line, json") { i in _ = json.line(entry(i)) }
        measure("access log line, text, written") { i in text.emit(entry(i), to: devNull) }
        // The whole observation as ProxyResponder and ChatProxy make it, task-local included,
        // ended by the worker's own `record`.
        measure("a whole request's observation, as the worker makes it") { i in
            let observation = RequestObservation(api: .chat, started: .now)
            metrics.requestStarted()
            RequestObservation.$current.withValue(observation) {
                if let name = auth.matchedName(headers) { RequestObservation.current?.client(key: name) }
                RequestObservation.current?.model(models[i % 3])
                RequestObservation.current?.attempt(token: "jwt-1")
                metrics.attempted(token: "jwt-1", outcome: "success")
                RequestObservation.current?.firstByte()
            }
            WorkerRuntime.record(observation, status: 200, metrics: metrics, usage: nil, log: text, logDescriptor: devNull)
        }
        pipeline(measure: measure)
        return rows
    }

    /// The pure steps of one non-streaming chat completion (scenario 1's request and the
    /// static upstream's 4-event answer), without sockets: what the request costs before any
    /// server, client or scheduling machinery.
    private static func pipeline(measure: (String, (Int) -> Void) -> Void) {
        let requestBody = Data(#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#.utf8)
        let content = #"{"event_type":"data","type":"Content","content":"! How can I help you today?"}"#
        let quota = #"{"event_type":"data","type":"QuotaMetadata","updated":{"current":{"amount":"12"},"maximum":{"amount":"1000000"},"until":1767225600000},"spent":{"amount":"1"}}"#
        let events = [
            #"{"event_type":"data","type":"Content","content":"Hello"}"#, content,
            #"{"event_type":"data","type":"FinishMetadata","reason":"stop"}"#, quota, "end",
        ]
        let answer = ByteBuffer(string: events.map { "data: \($0)\n\n" }.joined())
        let request = try! JSONDecoder.shared.decode(ChatCompletionRequest.self, from: requestBody)
        let translator = ChatTranslator(apiVersion: .v8)
        func collect() -> AnswerBuilder {
            var parser = SSEParser()
            var builder = AnswerBuilder(makeID: { "call_bench" })
            for payload in parser.feed(answer) + parser.finish() {
                _ = builder.apply(try! UpstreamEvent.decode(payload))
            }
            return builder
        }
        let builder = collect()
        measure("OpenAI request: JSON decode") { _ in
            _ = try! JSONDecoder.shared.decode(ChatCompletionRequest.self, from: requestBody)
        }
        measure("tokens in: estimate") { _ in _ = TokenEstimator.inputTokens(of: request) }
        measure("translate + upstream body") { _ in
            _ = try! translator.translate(request, profile: "openai-gpt-4o").request.jsonBuffer
        }
        measure("upstream answer: SSE parse, 4 events decoded, answer built") { _ in _ = collect() }
        measure("one Content event decoded") { _ in _ = try! UpstreamEvent.decode(content) }
        measure("one QuotaMetadata event decoded") { _ in _ = try! UpstreamEvent.decode(quota) }
        measure("SSE parse of the answer") { _ in var p = SSEParser(); _ = p.feed(answer) }
        measure("completion JSON") { _ in
            _ = try! OpenAIChatEncoder(model: "gpt-4o", includeUsage: false, promptTokens: 1).whole(builder)
        }
        measure("the pure steps of one request together") { _ in
            let request = try! JSONDecoder.shared.decode(ChatCompletionRequest.self, from: requestBody)
            let tokens = TokenEstimator.inputTokens(of: request)
            _ = try! translator.translate(request, profile: "openai-gpt-4o").request.jsonBuffer
            _ = try! OpenAIChatEncoder(model: request.model, includeUsage: false, promptTokens: tokens).whole(collect())
        }
    }
}
