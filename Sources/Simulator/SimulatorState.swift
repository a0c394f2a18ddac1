import Foundation
import Shared
import Synchronization

/// What the simulator knows about one JWT.
struct JWTRecord: Sendable, Equatable {
    var valid = true
    var quotaCurrent = 0.0
    var quotaMaximum = 1000.0
    /// Paid top-up credit, spent once the tariff quota is used up (reported by `quota_shape` tariff).
    var topUpCurrent = 0.0
    var topUpMaximum = 0.0
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
    /// The `Authorization: Bearer` value it takes; nil: only OAuth id tokens minted for it.
    var authorization: String?
    var state = "PAID"
    var jwtTTLSeconds = 3600
    /// Answer `{"state", "token"}`; false: `{"state"}` and no token.
    var issueToken = true
}

/// One recorded chat request.
struct RecordedRequest: Sendable, Equatable {
    var jwt: String?
    var path: String
    var version: APIVersion
    var body: SimJSON
    /// `grazie-agent`, `user-agent`, `accept`, `content-type` as sent (lower-case names).
    var headers: [String: String] = [:]

    static let headerNames = ["grazie-agent", "user-agent", "accept", "content-type"]
}

/// A JWT's quota as reported to clients.
struct QuotaSnapshot: Sendable, Equatable {
    var current: Double
    var maximum: Double
    var until: Date
    var topUpCurrent = 0.0
    var topUpMaximum = 0.0
}

/// A refresh token registered through `POST /_sim/oauth` (or minted by a rotation).
struct RefreshTokenRecord: Sendable, Equatable {
    /// `rt-1`, `rt-2`, …: names the token in admin answers and logs; the secret never appears there.
    var id: String
    var token: String
    var licenseID: String?
    var idTokenTTLSeconds = 3600
    var rotate = true
    var valid = true
    /// Successful exchanges.
    var uses = 0
    /// Exchanges refused because the token was no longer valid (reuse after a rotation).
    var rejectedUses = 0
    var rotatedFrom: String?
    var replacedBy: String?
}

/// An OAuth id token the exchange handed out.
struct IDTokenRecord: Sendable, Equatable {
    /// nil: accepted for every license.
    var licenseID: String?
    var expiresAt: Date
}

/// What a refresh-token exchange returns.
struct OAuthGrant: Sendable, Equatable {
    var recordID: String
    var idToken: String
    var expiresIn: Int
    /// The replacement refresh token (rotation), nil otherwise.
    var refreshToken: String?
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
    /// Chat requests per path (chat v7, v8, responses).
    var byPath: [String: Int] = [:]
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
        var protocolSettings: ProtocolSettings
        var profiles: [String]
        var refreshTokens: [String: RefreshTokenRecord] = [:]
        /// Refresh token → record id.
        var refreshIndex: [String: String] = [:]
        var nextRefresh = 0
        var idTokens: [String: IDTokenRecord] = [:]
    }

    let defaults: AnswerDefaults
    /// The protocol settings and profiles as the flags (and config file) gave them; `reset()` returns to them.
    let protocolDefaults: ProtocolSettings
    let profileDefaults: [String]
    private let storage: Mutex<Storage>

    init(
        defaults: AnswerDefaults = AnswerDefaults(), protocolSettings: ProtocolSettings = ProtocolSettings(),
        profiles: [String] = ProfileCatalog.defaultIDs
    ) {
        self.defaults = defaults
        self.protocolDefaults = protocolSettings
        self.profileDefaults = profiles
        self.storage = Mutex(Storage(protocolSettings: protocolSettings, profiles: profiles))
    }

    // MARK: Protocol settings and profiles

    var protocolSettings: ProtocolSettings {
        storage.withLock { $0.protocolSettings }
    }

    /// Merges a partial settings object over the current settings; returns the result.
    func updateProtocol(_ json: SimJSON) throws(AdminError) -> ProtocolSettings {
        let result: Result<ProtocolSettings, AdminError> = storage.withLock { s in
            do throws(AdminError) {
                s.protocolSettings = try s.protocolSettings.merging(json)
                return .success(s.protocolSettings)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    var profiles: [String] {
        storage.withLock { $0.profiles }
    }

    func setProfiles(_ profiles: [String]) {
        storage.withLock { $0.profiles = profiles }
    }

    // MARK: JWTs

    /// Adds or updates a configured JWT; unspecified fields keep their value (or the default).
    func setJWT(
        _ jwt: String, valid: Bool? = nil, quotaCurrent: Double? = nil, quotaMaximum: Double? = nil,
        until: Date?? = nil, topUpCurrent: Double? = nil, topUpMaximum: Double? = nil
    ) {
        storage.withLock { s in
            var record = s.jwts[jwt] ?? JWTRecord(expiresAt: JWTMint.expiry(of: jwt))
            record.configured = true
            if let valid { record.valid = valid }
            if let quotaCurrent { record.quotaCurrent = quotaCurrent }
            if let quotaMaximum { record.quotaMaximum = quotaMaximum }
            if let until { record.until = until }
            if let topUpCurrent { record.topUpCurrent = topUpCurrent }
            if let topUpMaximum { record.topUpMaximum = topUpMaximum }
            s.jwts[jwt] = record
            s.strict = true
        }
    }

    func jwtRecords() -> [String: JWTRecord] {
        storage.withLock { $0.jwts }
    }

    /// Checks a JWT; with `spend`, also takes one unit of its quota (of the tariff quota while
    /// it lasts, then of the top-up). Unknown JWTs are accepted (and remembered) until any JWT
    /// is configured. `checkQuota`: refuse a JWT with neither tariff quota nor top-up left.
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
            let tariffLeft = record.quotaCurrent < record.quotaMaximum
            if checkQuota, !tariffLeft, record.topUpCurrent >= record.topUpMaximum {
                s.jwts[jwt] = record
                return .failure(RefusalError(.quotaExhausted(snapshot)))
            }
            if spend {
                if tariffLeft || record.topUpCurrent >= record.topUpMaximum {
                    record.quotaCurrent += 1
                } else {
                    record.topUpCurrent += 1
                }
                snapshot = Self.snapshot(record, now: now)
            }
            s.jwts[jwt] = record
            return .success(snapshot)
        }
    }

    private static func snapshot(_ record: JWTRecord, now: Date) -> QuotaSnapshot {
        QuotaSnapshot(
            current: record.quotaCurrent, maximum: record.quotaMaximum,
            until: record.until ?? ISODate.nextMidnightUTC(after: now),
            topUpCurrent: record.topUpCurrent, topUpMaximum: record.topUpMaximum
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

    /// Whether `bearer` may fetch a JWT for `license`: its own authorization, or an OAuth id
    /// token minted for it (or for any license) that has not expired.
    func authorizes(_ bearer: String?, license: LicenseRecord, now: Date = Date()) -> LicenseAuthorization {
        guard let bearer, !bearer.isEmpty else { return .refused }
        if let authorization = license.authorization, authorization == bearer { return .allowed }
        return storage.withLock { s in
            guard let record = s.idTokens[bearer], record.licenseID == nil || record.licenseID == license.id else {
                return .refused
            }
            return record.expiresAt > now ? .allowed : .expired
        }
    }

    enum LicenseAuthorization: Sendable, Equatable {
        case allowed
        case refused
        /// An id token that was valid for this license once.
        case expired
    }

    // MARK: OAuth

    /// Registers (or re-registers, valid again) a refresh token; creates the license when
    /// `licenseID` names an unknown one (accepting only id tokens). Returns the record id.
    func registerRefreshToken(_ token: String, licenseID: String?, idTokenTTLSeconds: Int, rotate: Bool) -> String {
        storage.withLock { s in
            if let licenseID, s.licenses[licenseID] == nil {
                s.licenses[licenseID] = LicenseRecord(id: licenseID, authorization: nil)
            }
            let id: String
            if let existing = s.refreshIndex[token] {
                id = existing
            } else {
                s.nextRefresh += 1
                id = "rt-\(s.nextRefresh)"
                s.refreshIndex[token] = id
            }
            s.refreshTokens[id] = RefreshTokenRecord(
                id: id, token: token, licenseID: licenseID, idTokenTTLSeconds: idTokenTTLSeconds, rotate: rotate
            )
            return id
        }
    }

    /// Exchanges a refresh token for an id token (and, when it rotates, a new refresh token
    /// that replaces it). nil for an unknown or no longer valid token.
    func exchange(refreshToken token: String, now: Date = Date()) -> OAuthGrant? {
        storage.withLock { s in
            guard let id = s.refreshIndex[token], var record = s.refreshTokens[id] else { return nil }
            guard record.valid else {
                record.rejectedUses += 1
                s.refreshTokens[id] = record
                return nil
            }
            record.uses += 1
            s.nextMint += 1
            let minted = JWTMint.mint(
                subject: record.licenseID ?? "jetbrains-account-user", ttlSeconds: record.idTokenTTLSeconds,
                serial: s.nextMint, now: now, kind: "id-token"
            )
            s.idTokens[minted.token] = IDTokenRecord(licenseID: record.licenseID, expiresAt: minted.expiresAt)
            var replacement: String?
            if record.rotate {
                let fresh = "sim-rt-" + RandomID.hex(32)
                s.nextRefresh += 1
                let freshID = "rt-\(s.nextRefresh)"
                s.refreshIndex[fresh] = freshID
                s.refreshTokens[freshID] = RefreshTokenRecord(
                    id: freshID, token: fresh, licenseID: record.licenseID, idTokenTTLSeconds: record.idTokenTTLSeconds,
                    rotate: true, rotatedFrom: id
                )
                record.valid = false
                record.replacedBy = freshID
                replacement = fresh
            }
            s.refreshTokens[id] = record
            return OAuthGrant(
                recordID: id, idToken: minted.token, expiresIn: record.idTokenTTLSeconds, refreshToken: replacement
            )
        }
    }

    /// The registered refresh tokens, by record id order.
    func refreshTokens() -> [RefreshTokenRecord] {
        storage.withLock { s in
            s.refreshTokens.values.sorted { Int($0.id.dropFirst(3)) ?? 0 < Int($1.id.dropFirst(3)) ?? 0 }
        }
    }

    func idTokenCount() -> Int {
        storage.withLock { $0.idTokens.count }
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
    /// `path`: counted per path too (chat endpoints).
    func requestStarted(_ endpoint: Endpoint, jwt: String?, license: String? = nil, path: String? = nil) {
        storage.withLock { s in
            s.inFlight += 1
            s.stats.totals[endpoint, default: 0] += 1
            if let path { s.stats.byPath[path, default: 0] += 1 }
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

    /// Clears faults, counters and recorded requests, and puts the protocol settings and the
    /// profile list back to their defaults (flags, config file); keeps JWTs, licenses and
    /// refresh tokens.
    func reset() {
        storage.withLock { s in
            s.faults = []
            s.stats = Stats()
            s.recorded = []
            s.protocolSettings = protocolDefaults
            s.profiles = profileDefaults
        }
    }
}

/// A refusal as an `Error`, for `Result`.
struct RefusalError: Error, Equatable {
    var refusal: Refusal
    init(_ refusal: Refusal) { self.refusal = refusal }
}
