import Foundation
import Shared

/// What the quota endpoint says about a JWT.
enum QuotaAnswer: Sendable, Equatable {
    case available(QuotaReport)
    case exhausted(QuotaReport, until: Date?)
    case status(Int, retryAfter: TimeInterval?)
}

/// An amount: `{"amount": "12.5"}`, `{"amount": 12.5}`, or (a hedge) the bare number or string.
struct QuotaAmount: Decodable, Sendable, Equatable {
    var text: String
    var value: Double? { Double(text) }

    init(from decoder: any Decoder) throws {
        if let c = try? decoder.container(keyedBy: AnyKey.self) {
            guard let text = c.lenientString(AnyKey("amount")) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "no amount"))
            }
            self.text = text
            return
        }
        let single = try decoder.singleValueContainer()
        if let s = try? single.decode(String.self) {
            text = s
        } else {
            text = formatAmount(try single.decode(Double.self))
        }
    }
}

/// One quota block: `current`, `maximum`, `available` amounts and its reset time `until`.
/// The same shape appears as `updated` in `QuotaMetadata`, as the quota endpoint's `current`,
/// and as its `tariffQuota` and `topUpQuota`.
struct QuotaBlock: Decodable, Sendable, Equatable {
    var current: QuotaAmount?
    var maximum: QuotaAmount?
    var available: QuotaAmount?
    var until: UpstreamInstant?

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        current = c.lenient(QuotaAmount.self, AnyKey("current"))
        maximum = c.lenient(QuotaAmount.self, AnyKey("maximum"))
        available = c.lenient(QuotaAmount.self, AnyKey("available"))
        until = c.lenientInstant(AnyKey("until"))
    }

    var isEmpty: Bool { current == nil && maximum == nil && available == nil && until == nil }

    /// What is left: `available` when given, else `maximum − current` when both are known.
    var left: Double? {
        if let a = available?.value { return a }
        if let m = maximum?.value, let c = current?.value { return m - c }
        return nil
    }
}

extension QuotaAnswer {
    /// Reads every shape of `POST /user/v5/quota/get` that public clients have seen:
    /// `{"current": {current, maximum, until}}`, `{"tariffQuota": {…, available}, "topUpQuota": {…}}`,
    /// a top-level `until`, and the old `dailyUsed` / `dailyTotal`. A JWT has no quota left when
    /// its tariff has none (`available` ≤ 0, else current ≥ maximum) and no top-up is left.
    /// A body that is not a JSON object is a failed probe (502); an object of an unknown shape
    /// is taken as "available" — the probe must not take a JWT out on a guess.
    static func parse(_ data: Data) -> QuotaAnswer {
        guard let doc = try? JSONDecoder().decode(QuotaDocument.self, from: data) else {
            return .status(502, retryAfter: nil)
        }
        let tariff = doc.tariff
        let until = tariff?.until ?? doc.until ?? doc.topUp?.until
        let topUpLeft = doc.topUp?.left
        let report = QuotaReport(
            current: tariff?.current?.text, maximum: tariff?.maximum?.text, until: until?.text,
            available: tariff?.available?.text, topUpAvailable: topUpLeft.map(formatAmount)
        )
        let tariffLeft = tariff?.left
        let exhausted = (tariffLeft.map { $0 <= 0 } ?? false) && !((topUpLeft ?? 0) > 0)
        return exhausted ? .exhausted(report, until: until?.date) : .available(report)
    }
}

/// The quota endpoint's answer, every known variant.
private struct QuotaDocument: Decodable {
    var tariff: QuotaBlock?
    var topUp: QuotaBlock?
    var until: UpstreamInstant?

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        until = c.lenientInstant(AnyKey("until"))
        topUp = c.lenient(QuotaBlock.self, AnyKey("topUpQuota"))
        if let block = c.lenient(QuotaBlock.self, AnyKey("tariffQuota")), !block.isEmpty {
            tariff = block
        } else if let block = c.lenient(QuotaBlock.self, AnyKey("current")), !block.isEmpty {
            tariff = block
        } else if let own = try? QuotaBlock(from: decoder), own.current != nil || own.maximum != nil {
            tariff = own  // a flat document: current/maximum amounts at the top level
        } else if let used = c.lenientString(AnyKey("dailyUsed")), let total = c.lenientString(AnyKey("dailyTotal")) {
            tariff = QuotaBlock(current: used, maximum: total)
        }
    }
}

private extension QuotaBlock {
    init(current: String, maximum: String) {
        self.current = QuotaAmount(text: current)
        self.maximum = QuotaAmount(text: maximum)
    }
}

private extension QuotaAmount {
    init(text: String) { self.text = text }
}
