import Foundation
import Logging
import ServiceLifecycle
import Shared
import Synchronization

/// Keeps JWTs that come from licenses fresh: fetched at start, refreshed before `exp`, and
/// refreshed once more when a request gets 401.
///
/// A license token is `license_id` + `authorization` (an id token the user pasted) or
/// `license_id` + `refresh_token`. For the latter this keeps an OAuth session per token: the
/// current refresh token (rotated ones replace it and are saved in the `CredentialStore`
/// before anything else happens), and the id token the license endpoint takes, renewed a
/// couple of minutes before it expires.
final class LicenseManager: Service {
    private let pool: TokenPool
    private let upstream: @Sendable () -> any CredentialUpstream
    private let credentials: CredentialStore?
    private let clock: @Sendable () -> Date
    private let logger: Logger
    /// Licenses being fetched, with the callers waiting for that fetch.
    private let waiters = Mutex<[TokenKey: [CheckedContinuation<Bool, Never>]]>([:])
    /// When each license JWT now in the pool was fetched (its lifetime starts there).
    private let fetched = Mutex<[TokenKey: (jwt: String, at: Date)]>([:])
    /// Refresh-token licenses: the OAuth state of each.
    private let sessions = Mutex<[TokenKey: OAuthSession]>([:])
    /// One exchange at a time per refresh token: a second one would present a rotated-out token.
    private let exchanges = SingleFlight<TokenKey, Result<String, any Error>>()

    struct OAuthSession: Sendable, Equatable {
        /// The refresh token to present next (the configured one, a saved or a rotated one).
        var refreshToken: String
        var idToken: String?
        var obtainedAt: Date?
        var expiresAt: Date?

        /// When the id token should be replaced; nil when there is none.
        var renewalDue: Date? {
            guard idToken != nil, let obtainedAt, let expiresAt else { return nil }
            return LicenseManager.idTokenRenewalDue(obtainedAt: obtainedAt, expiresAt: expiresAt)
        }
    }

    init(
        pool: TokenPool,
        upstream: @escaping @Sendable () -> any CredentialUpstream,
        credentials: CredentialStore? = nil,
        clock: @escaping @Sendable () -> Date = { Date() },
        logger: Logger
    ) {
        self.pool = pool
        self.upstream = upstream
        self.credentials = credentials
        self.clock = clock
        self.logger = logger
    }

    // MARK: - Timing (pure)

    /// An id token whose answer had no usable `expires_in` is taken to live this long (the
    /// JetBrains Account's id tokens live about an hour).
    static let assumedIDTokenLifetime: TimeInterval = 3600
    /// How long before its expiry an id token is replaced ("a couple of minutes").
    static let idTokenRenewalLead: TimeInterval = 120

    /// When to replace an id token: `idTokenRenewalLead` before it expires, or at 80 % of its
    /// lifetime when it lives less than ten minutes.
    static func idTokenRenewalDue(obtainedAt: Date, expiresAt: Date) -> Date {
        let lifetime = max(0, expiresAt.timeIntervalSince(obtainedAt))
        return expiresAt.addingTimeInterval(-min(idTokenRenewalLead, lifetime * 0.2))
    }

    /// When to renew a license JWT that lives from `issuedAt` to `expiry`: at 80 % of its
    /// lifetime, but never later than a minute and never earlier than an hour before `exp`.
    static func jwtRenewalDue(issuedAt: Date, expiry: Date) -> Date {
        let lifetime = max(0, expiry.timeIntervalSince(issuedAt))
        return expiry.addingTimeInterval(-max(60, min(lifetime * 0.2, 3600)))
    }

    // MARK: - Refresh

    /// Fetches a new JWT for the license behind `key`; false when that failed. Concurrent
    /// calls for one license share a single fetch (single flight).
    @discardableResult
    func refresh(_ key: TokenKey) async -> Bool {
        guard let record = pool.snapshot().first(where: { $0.key == key }), record.isLicense else { return false }
        let leader = waiters.withLock { w -> Bool in
            if w[key] != nil { return false }
            w[key] = []
            return true
        }
        guard leader else {
            return await withCheckedContinuation { continuation in
                let joined = waiters.withLock { w -> Bool in
                    guard w[key] != nil else { return false }
                    w[key]!.append(continuation)
                    return true
                }
                // The fetch finished between our two looks: report what the pool has now.
                if !joined { continuation.resume(returning: pool.snapshot().first { $0.key == key }?.jwt != record.jwt) }
            }
        }
        let ok: Bool
        do {
            let jwt = try await fetchJWT(record)
            let now = clock()
            fetched.withLock { $0[key] = (jwt, now) }
            pool.install(jwt: jwt, for: key)
            logger.info("JWT fetched from license", metadata: ["token": "\(record.config.name)", "jwt": "\(fingerprint(jwt))"])
            ok = true
        } catch {
            logger.error("license refresh failed", metadata: ["token": "\(record.config.name)", "error": "\(error)"])
            ok = false
        }
        let followers = waiters.withLock { $0.removeValue(forKey: key) ?? [] }
        for follower in followers { follower.resume(returning: ok) }
        return ok
    }

    private func fetchJWT(_ record: TokenPool.Record) async throws -> String {
        switch record.config.source {
        case .jwt(let jwt):
            return jwt
        case .license(let id, let authorization):
            return try await upstream().licenseJWT(licenseID: id, authorization: authorization)
        case .licenseRefresh(let id, _):
            let idToken = try await self.idToken(for: record, rejected: nil)
            do {
                return try await upstream().licenseJWT(licenseID: id, authorization: idToken)
            } catch let error as LicenseError where error.isUnauthorized {
                // The id token was refused before its time (revoked, clock skew): one fresh one.
                logger.info("license endpoint refused the id token; exchanging the refresh token again",
                            metadata: ["token": "\(record.config.name)"])
                let fresh = try await self.idToken(for: record, rejected: idToken)
                return try await upstream().licenseJWT(licenseID: id, authorization: fresh)
            }
        }
    }

    // MARK: - Id tokens (refresh-token licenses)

    /// A usable id token for the refresh-token license `record`: the current one unless it is
    /// due for renewal or is `rejected`, else a new one from the OAuth endpoint.
    func idToken(for record: TokenPool.Record, rejected: String?) async throws -> String {
        guard case .licenseRefresh(_, let configured) = record.config.source else {
            throw OAuthError(status: nil, code: nil, description: "not a refresh-token license")
        }
        let key = record.key
        let name = record.config.name
        let result = await exchanges.run(key) { () async -> Result<String, any Error> in
            let now = self.clock()
            let session = self.session(for: key, name: name, configured: configured)
            if let current = session.idToken, current != rejected, let due = session.renewalDue, due > now {
                return .success(current)
            }
            do {
                return .success(try await self.exchange(key: key, name: name, configured: configured, session: session))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The session of `key`, created on first use from the saved refresh token (when it was
    /// rotated from the configured value) or the configured one.
    private func session(for key: TokenKey, name: String, configured: String) -> OAuthSession {
        if let existing = sessions.withLock({ $0[key] }) { return existing }
        var refreshToken = configured
        do {
            if let saved = try credentials?.refreshToken(name: name, configured: configured) {
                refreshToken = saved
                logger.info("using the rotated refresh token saved in the state folder", metadata: ["token": "\(name)"])
            }
        } catch {
            logger.error("cannot read saved credentials; using the configured refresh token",
                         metadata: ["token": "\(name)", "error": "\(error)"])
        }
        return sessions.withLock { s in
            if let existing = s[key] { return existing }
            let session = OAuthSession(refreshToken: refreshToken)
            s[key] = session
            return session
        }
    }

    /// One exchange (inside the single flight of `key`). A refused refresh token is retried
    /// once with the saved one when that differs: a worker replacing this one (or replaced
    /// by it) may have rotated it meanwhile.
    private func exchange(key: TokenKey, name: String, configured: String, session: OAuthSession) async throws -> String {
        var presented = session.refreshToken
        let answer: OAuthTokenAnswer
        do {
            answer = try await upstream().exchangeRefreshToken(presented)
        } catch let error as OAuthError where error.isInvalidGrant {
            guard let saved = try? credentials?.refreshToken(name: name, configured: configured), saved != presented else {
                throw error
            }
            logger.info("refresh token refused; retrying with the one saved by another worker", metadata: ["token": "\(name)"])
            presented = saved
            answer = try await upstream().exchangeRefreshToken(presented)
        }
        let now = clock()
        var updated = session
        updated.refreshToken = presented
        if let rotated = answer.refreshToken, rotated != presented {
            // The old one is dead from now on: keep the new one in memory first, then on disk.
            updated.refreshToken = rotated
            do {
                try credentials?.save(name: name, configured: configured, refreshToken: rotated, now: now)
                logger.info("refresh token rotated and saved", metadata: ["token": "\(name)"])
            } catch {
                logger.error(
                    "refresh token rotated but could not be saved: after a restart this token needs a new refresh_token in the configuration",
                    metadata: ["token": "\(name)", "error": "\(error)"])
            }
        }
        updated.idToken = answer.idToken
        updated.obtainedAt = now
        updated.expiresAt = now.addingTimeInterval(answer.expiresIn ?? Self.assumedIDTokenLifetime)
        sessions.withLock { $0[key] = updated }
        logger.debug("id token obtained from the refresh token", metadata: [
            "token": "\(name)", "expires_in_s": "\(Int(answer.expiresIn ?? Self.assumedIDTokenLifetime))",
        ])
        return answer.idToken
    }

    /// The OAuth state of `key` (tests, reports); nil before its first use.
    func session(_ key: TokenKey) -> OAuthSession? {
        sessions.withLock { $0[key] }
    }

    // MARK: - The loop

    /// When the refresher should next act for `record`: fetch or renew its JWT, or renew the id
    /// token behind it. `now` when something is missing.
    func nextDue(for record: TokenPool.Record, now: Date) -> (jwt: Date, idToken: Date?)? {
        let jwtDue: Date
        if let jwt = record.jwt {
            guard let exp = jwtExpiry(jwt) else { return nil }
            let issued = fetched.withLock { f in f[record.key].flatMap { $0.jwt == jwt ? $0.at : nil } }
            jwtDue = Self.jwtRenewalDue(issuedAt: jwtIssuedAt(jwt) ?? issued ?? now, expiry: exp)
        } else {
            jwtDue = now
        }
        guard case .licenseRefresh = record.config.source else { return (jwtDue, nil) }
        return (jwtDue, session(record.key)?.renewalDue)
    }

    /// Runs until cancelled: fetches missing license JWTs and renews them before they expire
    /// (at 80% of their lifetime, at least a minute before `exp`), and renews the id tokens of
    /// refresh-token licenses a couple of minutes before they expire.
    /// A service of the worker's group: runs until the group shuts down gracefully.
    func run() async {
        await cancelWhenGracefulShutdown {
            await self.loop()
        }
    }

    func loop() async {
        while !Task.isCancelled {
            let now = clock()
            var next = now.addingTimeInterval(30)
            let records = pool.snapshot()
            let live = Set(records.map(\.key))
            sessions.withLock { s in s = s.filter { live.contains($0.key) } }
            fetched.withLock { f in f = f.filter { live.contains($0.key) } }
            for record in records where record.isLicense {
                guard let due = nextDue(for: record, now: now) else { continue }
                if due.jwt <= now {
                    if await refresh(record.key) == false, record.jwt == nil || (record.jwt.flatMap(jwtExpiry) ?? now) <= now {
                        pool.invalidate(key: record.key, reason: "license JWT could not be fetched")
                    }
                    next = min(next, now.addingTimeInterval(30))
                    continue
                }
                next = min(next, due.jwt)
                if let idDue = due.idToken {
                    if idDue <= now {
                        do {
                            _ = try await idToken(for: record, rejected: nil)
                        } catch {
                            logger.error("id token renewal failed", metadata: ["token": "\(record.config.name)", "error": "\(error)"])
                            next = min(next, now.addingTimeInterval(30))
                        }
                        if let renewed = session(record.key)?.renewalDue, renewed > now { next = min(next, renewed) }
                    } else {
                        next = min(next, idDue)
                    }
                }
            }
            let wait = max(1, next.timeIntervalSince(clock()))
            try? await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
        }
    }
}

/// Concurrent callers for one key share one run of an operation (the first caller's).
final class SingleFlight<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let waiters = Mutex<[Key: [CheckedContinuation<Value?, Never>]]>([:])

    func run(_ key: Key, _ operation: @Sendable () async -> Value) async -> Value {
        while true {
            let leader = waiters.withLock { w -> Bool in
                if w[key] != nil { return false }
                w[key] = []
                return true
            }
            if leader {
                let value = await operation()
                let followers = waiters.withLock { $0.removeValue(forKey: key) ?? [] }
                for follower in followers { follower.resume(returning: value) }
                return value
            }
            let shared: Value? = await withCheckedContinuation { continuation in
                let joined = waiters.withLock { w -> Bool in
                    guard w[key] != nil else { return false }
                    w[key]!.append(continuation)
                    return true
                }
                if !joined { continuation.resume(returning: nil) }
            }
            // nil: that run ended between our two looks; start or join the next one.
            if let shared { return shared }
        }
    }
}
