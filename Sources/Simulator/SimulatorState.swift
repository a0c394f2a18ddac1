import Foundation
import Synchronization

/// What the simulator knows about one JWT.
struct JWTRecord: Sendable, Equatable {
    var valid = true
    var quotaCurrent = 0.0
    var quotaMaximum = 1000.0
    /// When the quota resets (current back to 0); nil = next midnight UTC, no reset.
    var until: Date?
    /// After this the JWT is refused (minted tokens, or a token's own `exp` claim).
    var expiresAt: Date?
    /// Set by flag, config or admin API (as opposed to minted or accepted on sight).
    var configured = false
}

/// A license the license endpoint can mint JWTs for.
struct LicenseRecord: Sendable, Equatable {
    var id: String
    var authorization: String
    var state = "PAID"
    var jwtTTLSeconds = 3600
}

/// One recorded chat request.
struct RecordedRequest: Sendable, Equatable {
    var jwt: String?
    var path: String
    var version: APIVersion
    var body: SimJSON
}

/// A JWT's quota as reported to clients.
struct QuotaSnapshot: Sendable, Equatable {
    var current: Double
    var maximum: Double
    var until: Date
}

/// Why a JWT was refused.
enum Refusal: Sendable, Equatable {
    case missingJWT
    case unknownJWT
    case invalidJWT
    case expiredJWT
    case quotaExhausted(QuotaSnapshot)
}

/// Request counters, as `GET /_sim/stats` reports them.
struct Stats: Sendable, Equatable {
    var totals: [Endpoint: Int] = [:]
    var byJWT: [String: [Endpoint: Int]] = [:]
    var byLicense: [String: Int] = [:]
    var faultsApplied: [FaultKind: Int] = [:]
}

/// All mutable simulator state behind one lock: JWTs, licenses, faults, counters and the
/// ring buffer of recorded chat requests.
final class SimulatorState: Sendable {
    static let recordedLimit = 200

    struct Storage {
        var jwts: [String: JWTRecord] = [:]
        /// Once any JWT is configured, unknown JWTs are refused.
        var strict = false
        var licenses: [String: LicenseRecord] = [:]
        var faults: [Fault] = []
        var stats = Stats()
        var inFlight = 0
        var recorded: [RecordedRequest] = []
        var nextFault = 0
        var nextCall = 0
        var nextMint = 0
    }

    let defaults: AnswerDefaults
    let quotaFormat: QuotaFormat
    private let storage = Mutex(Storage())

    init(defaults: AnswerDefaults = AnswerDefaults(), quotaFormat: QuotaFormat = .new) {
        self.defaults = defaults
        self.quotaFormat = quotaFormat
    }

    // MARK: JWTs

    /// Adds or updates a configured JWT; unspecified fields keep their value (or the default).
    func setJWT(
        _ jwt: String, valid: Bool? = nil, quotaCurrent: Double? = nil, quotaMaximum: Double? = nil,
        until: Date?? = nil
    ) {
        storage.withLock { s in
            var record = s.jwts[jwt] ?? JWTRecord(expiresAt: JWTMint.expiry(of: jwt))
            record.configured = true
            if let valid { record.valid = valid }
            if let quotaCurrent { record.quotaCurrent = quotaCurrent }
            if let quotaMaximum { record.quotaMaximum = quotaMaximum }
            if let until { record.until = until }
            s.jwts[jwt] = record
            s.strict = true
        }
    }

    func jwtRecords() -> [String: JWTRecord] {
        storage.withLock { $0.jwts }
    }

    /// Checks a JWT; with `spend`, also takes one unit of its quota. Unknown JWTs are
    /// accepted (and remembered) until any JWT is configured.
    func admit(_ jwt: String?, checkQuota: Bool, spend: Bool, now: Date = Date()) -> Result<QuotaSnapshot, RefusalError> {
        storage.withLock { s in
            guard let jwt, !jwt.isEmpty else { return .failure(RefusalError(.missingJWT)) }
            var record: JWTRecord
            if let known = s.jwts[jwt] {
                record = known
            } else if s.strict {
                return .failure(RefusalError(.unknownJWT))
            } else {
                record = JWTRecord(expiresAt: JWTMint.expiry(of: jwt))
            }
            guard record.valid else { return .failure(RefusalError(.invalidJWT)) }
            if let expiresAt = record.expiresAt, expiresAt <= now { return .failure(RefusalError(.expiredJWT)) }
            if let until = record.until, until <= now {
                record.quotaCurrent = 0
                record.until = nil
            }
            var snapshot = Self.snapshot(record, now: now)
            if checkQuota, record.quotaCurrent >= record.quotaMaximum {
                s.jwts[jwt] = record
                return .failure(RefusalError(.quotaExhausted(snapshot)))
            }
            if spend {
                record.quotaCurrent += 1
                snapshot = Self.snapshot(record, now: now)
            }
            s.jwts[jwt] = record
            return .success(snapshot)
        }
    }

    private static func snapshot(_ record: JWTRecord, now: Date) -> QuotaSnapshot {
        QuotaSnapshot(
            current: record.quotaCurrent, maximum: record.quotaMaximum,
            until: record.until ?? ISODate.nextMidnightUTC(after: now)
        )
    }

    // MARK: Licenses

    func setLicense(_ license: LicenseRecord) {
        storage.withLock { $0.licenses[license.id] = license }
    }

    func license(_ id: String) -> LicenseRecord? {
        storage.withLock { $0.licenses[id] }
    }

    /// Mints a JWT for a license and registers it as valid until it expires.
    func mint(for license: LicenseRecord, now: Date = Date()) -> JWTMint.Minted {
        storage.withLock { s in
            s.nextMint += 1
            let minted = JWTMint.mint(subject: license.id, ttlSeconds: license.jwtTTLSeconds, serial: s.nextMint, now: now)
            s.jwts[minted.token] = JWTRecord(expiresAt: minted.expiresAt)
            return minted
        }
    }

    // MARK: Faults

    func addFault(_ fault: Fault) -> Fault {
        storage.withLock { s in
            s.nextFault += 1
            var fault = fault
            fault.id = "fault-\(s.nextFault)"
            fault.serial = s.nextFault
            s.faults.append(fault)
            return fault
        }
    }

    /// Removes all faults (`id` nil) or one; returns how many were removed.
    func removeFaults(id: String? = nil) -> Int {
        storage.withLock { s in
            let before = s.faults.count
            s.faults.removeAll { id == nil || $0.id == id }
            return before - s.faults.count
        }
    }

    func faults() -> [Fault] {
        storage.withLock { $0.faults }
    }

    /// The fault for a request, if any (per-JWT before global, newest first); counts it as
    /// applied and uses up one of its `count`.
    func takeFault(for endpoint: Endpoint, jwt: String?) -> Fault? {
        storage.withLock { s in
            let candidates = s.faults.indices.filter { s.faults[$0].matches(endpoint, jwt: jwt) }
            guard
                let index = candidates.max(by: { a, b in
                    let fa = s.faults[a], fb = s.faults[b]
                    if (fa.jwt != nil) != (fb.jwt != nil) { return fb.jwt != nil }
                    return fa.serial < fb.serial
                })
            else { return nil }
            let fault = s.faults[index]
            if let remaining = fault.remaining {
                if remaining <= 1 { s.faults.remove(at: index) } else { s.faults[index].remaining = remaining - 1 }
            }
            s.stats.faultsApplied[fault.kind, default: 0] += 1
            return fault
        }
    }

    // MARK: Counters and recording

    /// Counts a request that reached an upstream endpoint; pair with `requestFinished()`.
    func requestStarted(_ endpoint: Endpoint, jwt: String?, license: String? = nil) {
        storage.withLock { s in
            s.inFlight += 1
            s.stats.totals[endpoint, default: 0] += 1
            if let jwt, !jwt.isEmpty { s.stats.byJWT[jwt, default: [:]][endpoint, default: 0] += 1 }
            if let license { s.stats.byLicense[license, default: 0] += 1 }
        }
    }

    func requestFinished() {
        storage.withLock { $0.inFlight -= 1 }
    }

    func record(_ request: RecordedRequest) {
        storage.withLock { s in
            s.recorded.append(request)
            if s.recorded.count > Self.recordedLimit { s.recorded.removeFirst(s.recorded.count - Self.recordedLimit) }
        }
    }

    /// The last `last` recorded chat requests, oldest first.
    func recorded(last: Int? = nil) -> [RecordedRequest] {
        storage.withLock { s in
            guard let last else { return s.recorded }
            return Array(s.recorded.suffix(max(last, 0)))
        }
    }

    func stats() -> (stats: Stats, inFlight: Int) {
        storage.withLock { ($0.stats, $0.inFlight) }
    }

    /// The next v8 tool-call id: `call_1`, `call_2`, …
    func nextCallID() -> String {
        storage.withLock { s in
            s.nextCall += 1
            return "call_\(s.nextCall)"
        }
    }

    /// Clears faults, counters and recorded requests; keeps JWTs and licenses.
    func reset() {
        storage.withLock { s in
            s.faults = []
            s.stats = Stats()
            s.recorded = []
        }
    }
}

/// A refusal as an `Error`, for `Result`.
struct RefusalError: Error, Equatable {
    var refusal: Refusal
    init(_ refusal: Refusal) { self.refusal = refusal }
}

/// How `POST /user/v5/quota/get` answers.
enum QuotaFormat: String, Sendable, CaseIterable {
    /// `{"current": {"current": {"amount"}, "maximum": {"amount"}}, "until"}`
    case new
    /// `{"dailyUsed", "dailyTotal", "until"}`
    case old
}
