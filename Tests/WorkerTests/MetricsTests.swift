import Foundation
import Shared
import Testing
@testable import WorkerCore

@Suite struct WorkerMetricsTests {
    @Test func requestsAreCountedPerLabelSetAndTimed() {
        let metrics = WorkerMetrics(tenant: "team-a")
        metrics.requestStarted()
        metrics.requestStarted()
        metrics.requestFinished(api: .chat, model: "gpt-4o", status: 200, duration: .milliseconds(30), firstByte: .milliseconds(20))
        metrics.requestStarted()
        metrics.requestFinished(api: .chat, model: "gpt-4o", status: 200, duration: .milliseconds(40), firstByte: .milliseconds(20))
        let text = metrics.exposition(tokens: [])
        #expect(text.contains(#"jbai_requests_total{tenant="team-a",api="chat",model="gpt-4o",status="200"} 2"#))
        #expect(text.contains(#"jbai_request_duration_seconds_count{tenant="team-a",api="chat"} 2"#))
        #expect(text.contains(#"jbai_request_duration_seconds_bucket{tenant="team-a",api="chat",le="0.05"} 2"#))
        #expect(text.contains(#"jbai_time_to_first_byte_seconds_bucket{tenant="team-a",api="chat",le="0.025"} 2"#))
        #expect(text.contains(#"jbai_requests_in_flight{tenant="team-a"} 1"#))
        #expect(metrics.totals == (2, 0))
    }

    @Test func attemptsFailoversAndServerErrors() {
        let metrics = WorkerMetrics(tenant: "t")
        metrics.attempted(token: "first", outcome: TokenOutcome.upstreamFailure("500").metricLabel)
        metrics.failedOver()
        metrics.attempted(token: "second", outcome: TokenOutcome.success.metricLabel)
        metrics.requestStarted()
        metrics.requestFinished(api: .messages, model: "m", status: 502, duration: .seconds(1), firstByte: .seconds(1))
        let text = metrics.exposition(tokens: [])
        #expect(text.contains(#"jbai_upstream_attempts_total{tenant="t",token="first",outcome="upstream_error"} 1"#))
        #expect(text.contains(#"jbai_upstream_attempts_total{tenant="t",token="second",outcome="success"} 1"#))
        #expect(text.contains(#"jbai_failovers_total{tenant="t"} 1"#))
        #expect(metrics.totals == (1, 1))
    }

    @Test func tokenGaugesShowTheCurrentStateAndQuotaAndGoWithTheToken() {
        let metrics = WorkerMetrics(tenant: "t")
        let jwt = "eyJhbGciOiJIUzI1NiJ9.secret-part.sig"
        let tokens = [
            TokenReport(name: "main", fingerprint: fingerprint(jwt), state: .coolingDown, quota: QuotaReport(current: "25", maximum: "100")),
            TokenReport(name: "spare", fingerprint: "x", state: .healthy),
        ]
        var text = metrics.exposition(tokens: tokens)
        #expect(text.contains(#"jbai_token_state{tenant="t",token="main",state="cooling_down"} 1"#))
        #expect(text.contains(#"jbai_token_state{tenant="t",token="main",state="healthy"} 0"#))
        #expect(text.contains(#"jbai_token_state{tenant="t",token="spare",state="healthy"} 1"#))
        #expect(text.contains(#"jbai_token_quota_remaining{tenant="t",token="main"} 75"#))
        #expect(!text.contains("secret-part") && !text.contains(fingerprint(jwt)))
        text = metrics.exposition(tokens: [tokens[1]])
        #expect(!text.contains(#"token="main""#), "a JWT removed by a reload loses its series")
    }

    @Test func apiKindsByPath() {
        #expect(APIKind(method: .POST, path: "/v1/chat/completions") == .chat)
        #expect(APIKind(method: .POST, path: "/v1/messages") == .messages)
        #expect(APIKind(method: .POST, path: "/v1/responses") == .responses)
        #expect(APIKind(method: .GET, path: "/v1/models") == .models)
        #expect(APIKind(method: .GET, path: "/metrics") == nil)
        #expect(APIKind(method: .GET, path: "/health") == nil)
    }
}

@Suite struct AccessLogTests {
    let entry = AccessLog.Entry(
        time: Date(timeIntervalSince1970: 1_700_000_000.25), api: "chat", model: "gpt-4o", status: 200,
        duration: .microseconds(12_345), firstByte: .microseconds(4_500), attempts: 2, token: "jwt-b", key: "sk-test-ke..."
    )

    @Test func textLinesAreKeyValuePairs() {
        let line = AccessLog(format: .text, tenant: "team-a").line(entry)
        #expect(line == "access time=2023-11-14T22:13:20.250Z tenant=team-a api=chat model=gpt-4o status=200 "
            + "duration_ms=12.3 ttfb_ms=4.5 attempts=2 token=jwt-b key=sk-test-ke...")
    }

    @Test func jsonLinesAreOneObject() throws {
        let line = AccessLog(format: .json, tenant: "team-a").line(entry)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["tenant"] as? String == "team-a")
        #expect(object["status"] as? Int == 200)
        #expect(object["ttfb_ms"] as? Double == 4.5)
        #expect(object["attempts"] as? Int == 2)
        #expect(object["token"] as? String == "jwt-b")
    }

    @Test func timestampsAreWhatFoundationWrites() {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        let times: [TimeInterval] = [0, 0.999, 1_700_000_000.25, 1_700_000_000.9995, 951_782_400.5, 4_102_444_799.001, 1_798_761_599.999]
        for t in times {
            let date = Date(timeIntervalSince1970: t)
            #expect(AccessLog.timestamp(date) == date.formatted(style), "\(t)")
        }
    }

    @Test func jsonLinesEscapeLikeJSONEncoder() throws {
        var e = entry
        e.model = "we\"ird\\ mo\u{01}del\n\tä😀"
        e.key = nil
        let line = AccessLog(format: .json, tenant: "t\"x").line(e)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["model"] as? String == e.model)
        #expect(object["tenant"] as? String == "t\"x")
        #expect(object["key"] is NSNull)
        #expect(object["duration_ms"] as? Double == 12.3)
        #expect(object["time"] as? String == "2023-11-14T22:13:20.250Z")
        #expect(Set(object.keys) == ["api", "attempts", "duration_ms", "key", "model", "status", "tenant", "time", "token", "ttfb_ms"])
    }

    @Test func valuesWithSpacesAreQuoted() {
        var e = entry
        e.model = "my model"
        e.token = nil
        let line = AccessLog(format: .text, tenant: "t").line(e)
        #expect(line.contains(#"model="my model""#))
        #expect(line.contains("token=-"))
        e.model = "evil\naccess time=x"
        let forged = AccessLog(format: .text, tenant: "t").line(e)
        #expect(!forged.contains("\n"))
        #expect(forged.contains(#"model="evil\naccess time=x""#))
    }
}
