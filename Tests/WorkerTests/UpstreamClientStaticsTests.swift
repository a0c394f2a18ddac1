import Foundation
import Shared
import NIOHTTP1
import Testing
@testable import WorkerCore

@Suite struct UpstreamClientStaticsTests {
    // MARK: parseQuota

    func parseQuota(_ text: String) -> QuotaAnswer { QuotaAnswer.parse(Data(text.utf8)) }

    @Test func untilInsideCurrentAsEpochMilliseconds() {
        let answer = parseQuota(#"{"current":{"current":{"amount":"123.4"},"maximum":{"amount":"1000"},"until":1767225600000}}"#)
        #expect(answer == .available(.init(current: "123.4", maximum: "1000", until: "2026-01-01T00:00:00Z")))
        let spent = parseQuota(#"{"current":{"current":{"amount":1000},"maximum":{"amount":1000},"until":"1767225600000"}}"#)
        #expect(spent == .exhausted(.init(current: "1000", maximum: "1000", until: "2026-01-01T00:00:00Z"),
                                    until: Date(timeIntervalSince1970: 1_767_225_600)))
    }

    /// Found while writing the fuzz target's invariant: `"until": "nan"` (or `"inf"`, `1e300`)
    /// was read as a date that never comes, so a JWT the probe found exhausted stayed out for
    /// good. Such a time is unreadable: the pool falls back to its own reset guess.
    @Test func anImpossibleResetTimeIsUnreadable() {
        for until in [#""nan""#, #""inf""#, #""-infinity""#, "1e300", "-5000000000000"] {
            let answer = parseQuota(#"{"tariffQuota":{"available":{"amount":"0"},"until":\#(until)}}"#)
            guard case .exhausted(let report, let date) = answer else {
                Issue.record("expected exhausted for until \(until), got \(answer)")
                continue
            }
            #expect(date == nil, "until \(until)")
            #expect(report.until != nil)
        }
        let event = try? UpstreamEvent.decode(#"{"type":"QuotaMetadata","updated":{"current":{"amount":"1"},"until":"nan"}}"#)
        #expect(event == .quota(.init(current: "1", until: "nan")))
    }

    @Test func tariffWithAvailableLeft() {
        let answer = parseQuota(#"""
        {"tariffQuota":{"current":{"amount":"900"},"maximum":{"amount":"1000"},"available":{"amount":"100"},"until":1767225600000},
         "topUpQuota":{"current":{"amount":"0"},"maximum":{"amount":"0"},"available":{"amount":"0"}}}
        """#)
        guard case .available(let r) = answer else {
            Issue.record("expected available, got \(answer)")
            return
        }
        #expect(r.available == "100")
        #expect(r.until == "2026-01-01T00:00:00Z")
    }

    @Test func aSpentTariffWithTopUpLeftIsStillUsable() {
        let answer = parseQuota(#"""
        {"tariffQuota":{"current":{"amount":"1000"},"maximum":{"amount":"1000"},"available":{"amount":"0"},"until":1767225600000},
         "topUpQuota":{"current":{"amount":"20"},"maximum":{"amount":"500"},"available":{"amount":"480"}}}
        """#)
        guard case .available(let r) = answer else {
            Issue.record("expected available, got \(answer)")
            return
        }
        #expect(r.topUpAvailable == "480")
    }

    @Test func aSpentTariffWithoutTopUpIsExhaustedUntilItsReset() {
        let answer = parseQuota(#"""
        {"tariffQuota":{"current":{"amount":1000},"maximum":{"amount":1000},"available":{"amount":-3.5},"until":"2026-01-01T00:00:00Z"},
         "topUpQuota":{"current":{"amount":500},"maximum":{"amount":500}}}
        """#)
        guard case .exhausted(_, let until) = answer else {
            Issue.record("expected exhausted, got \(answer)")
            return
        }
        #expect(until == Date(timeIntervalSince1970: 1_767_225_600))
    }

    @Test func availableWinsOverCurrentAndMaximum() {
        // current ≥ maximum, but the answer says credit is available: trust `available`.
        let answer = parseQuota(#"{"tariffQuota":{"current":{"amount":"1000"},"maximum":{"amount":"1000"},"available":{"amount":"5"}}}"#)
        guard case .available = answer else {
            Issue.record("expected available, got \(answer)")
            return
        }
    }

    func report(_ answer: QuotaAnswer) -> QuotaReport? {
        switch answer {
        case .available(let r), .exhausted(let r, _): return r
        case .status: return nil
        }
    }

    @Test func newFormatWithQuotaLeft() throws {
        let answer = parseQuota(#"""
        {"current":{"current":{"amount":"123.4"},"maximum":{"amount":"1000"}},"until":"2025-08-01T00:00:00Z"}
        """#)
        guard case .available(let r) = answer else {
            Issue.record("expected available, got \(answer)")
            return
        }
        #expect(r.current.flatMap(Double.init) == 123.4)
        #expect(r.maximum.flatMap(Double.init) == 1000)
        #expect(r.until == "2025-08-01T00:00:00Z")
        #expect(r.spent == nil)
    }

    @Test func newFormatExhaustedWhenCurrentReachesMaximum() throws {
        let answer = parseQuota(#"""
        {"current":{"current":{"amount":"1000"},"maximum":{"amount":"1000"}},"until":"2025-08-01T00:00:00Z"}
        """#)
        guard case .exhausted(let r, let until) = answer else {
            Issue.record("expected exhausted, got \(answer)")
            return
        }
        #expect(until == Date(timeIntervalSince1970: 1_754_006_400))
        #expect(r.current.flatMap(Double.init) == 1000)
    }

    @Test func newFormatOverMaximumWithNumbersAndFractionalUntil() throws {
        let answer = parseQuota(#"""
        {"current":{"current":{"amount":1000.5},"maximum":{"amount":1000}},"until":"2025-08-01T00:00:00.250Z"}
        """#)
        guard case .exhausted(_, let until) = answer else {
            Issue.record("expected exhausted, got \(answer)")
            return
        }
        let u = try #require(until)
        #expect(abs(u.timeIntervalSince1970 - 1_754_006_400.25) < 0.001)
    }

    @Test func exhaustedWithoutUntil() {
        let answer = parseQuota(#"{"current":{"current":{"amount":"5"},"maximum":{"amount":"5"}}}"#)
        guard case .exhausted(_, let until) = answer else {
            Issue.record("expected exhausted, got \(answer)")
            return
        }
        #expect(until == nil)
    }

    @Test func oldFormat() {
        let left = parseQuota(#"{"dailyUsed":50,"dailyTotal":100}"#)
        guard case .available(let r) = left else {
            Issue.record("expected available, got \(left)")
            return
        }
        #expect(r.current.flatMap(Double.init) == 50)
        #expect(r.maximum.flatMap(Double.init) == 100)

        let used = parseQuota(#"{"dailyUsed":"100","dailyTotal":"100"}"#)
        guard case .exhausted = used else {
            Issue.record("expected exhausted, got \(used)")
            return
        }
        let over = parseQuota(#"{"dailyUsed":101.5,"dailyTotal":100}"#)
        guard case .exhausted = over else {
            Issue.record("expected exhausted, got \(over)")
            return
        }
    }

    @Test func unknownAmountsCountAsAvailable() {
        let answer = parseQuota(#"{"something":"else"}"#)
        guard case .available(let r) = answer else {
            Issue.record("expected available, got \(answer)")
            return
        }
        #expect(r == .init(spent: nil, current: nil, maximum: nil, until: nil))
    }

    @Test func notJSONIsABadGateway() {
        #expect(parseQuota("<html>oops</html>") == .status(502, retryAfter: nil))
        #expect(parseQuota("") == .status(502, retryAfter: nil))
    }

    // MARK: retryAfter

    @Test func retryAfterSeconds() {
        #expect(UpstreamClient.retryAfter(HTTPHeaders([("Retry-After", "120")])) == 120)
        #expect(UpstreamClient.retryAfter(HTTPHeaders([("retry-after", " 7 ")])) == 7)
        #expect(UpstreamClient.retryAfter(HTTPHeaders([("Retry-After", "1.5")])) == 1.5)
        #expect(UpstreamClient.retryAfter(HTTPHeaders([("Retry-After", "0")])) == 0)
        #expect(UpstreamClient.retryAfter(HTTPHeaders([("Retry-After", "-3")])) == 0)
    }

    @Test func retryAfterMissingOrGarbage() {
        #expect(UpstreamClient.retryAfter(HTTPHeaders()) == nil)
        #expect(UpstreamClient.retryAfter(HTTPHeaders([("Retry-After", "soon")])) == nil)
    }

    @Test func retryAfterHTTPDate() throws {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let future = formatter.string(from: Date().addingTimeInterval(100))
        let seconds = try #require(UpstreamClient.retryAfter(HTTPHeaders([("Retry-After", future)])))
        #expect((90...101).contains(seconds))
        let past = formatter.string(from: Date().addingTimeInterval(-100))
        #expect(UpstreamClient.retryAfter(HTTPHeaders([("Retry-After", past)])) == 0)
    }

    // MARK: jwtExpiry

    static func base64URL(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func makeJWT(payload: String) -> String {
        base64URL(#"{"alg":"HS256","typ":"JWT"}"#) + "." + base64URL(payload) + ".c2lnbmF0dXJl"
    }

    @Test func jwtExpiryFromHandMadeJWT() throws {
        // This payload's base64url form uses both `-` and `_` and has stripped padding.
        let payload = #"{"exp":1700000000,"sub":"user?>","n":"???>>>"}"#
        let encoded = Self.base64URL(payload)
        try #require(encoded.contains("-") && encoded.contains("_") && encoded.count % 4 != 0)
        #expect(jwtExpiry(Self.makeJWT(payload: payload)) == Date(timeIntervalSince1970: 1_700_000_000))
    }

    @Test func jwtExpiryVariants() {
        #expect(jwtExpiry(Self.makeJWT(payload: #"{"exp":1800000000.5}"#)) == Date(timeIntervalSince1970: 1_800_000_000.5))
        #expect(jwtExpiry(Self.makeJWT(payload: #"{"sub":"no-exp"}"#)) == nil)
        #expect(jwtExpiry(Self.makeJWT(payload: #"{"exp":"1700000000"}"#)) == nil)
        #expect(jwtExpiry(Self.makeJWT(payload: "not json")) == nil)
        #expect(jwtExpiry("not-a-jwt") == nil)
        #expect(jwtExpiry("a.%%%%.c") == nil)
        #expect(jwtExpiry("") == nil)
    }

    @Test func parseDateFormats() {
        #expect(parseDate("2025-08-01T00:00:00Z") == Date(timeIntervalSince1970: 1_754_006_400))
        #expect(parseDate("2025-08-01T02:00:00+02:00") == Date(timeIntervalSince1970: 1_754_006_400))
        #expect(parseDate("2025-08-01T00:00:00.5Z") != nil)
        #expect(parseDate("yesterday") == nil)
    }
}
