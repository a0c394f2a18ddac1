import Foundation
import Logging
import Shared
import Synchronization

/// Keeps JWTs that come from licenses fresh: fetched at start, refreshed before `exp`, and
/// refreshed once more when a request gets 401.
final class LicenseManager: Sendable {
    private let pool: TokenPool
    private let upstream: @Sendable () -> UpstreamClient
    private let logger: Logger
    /// Licenses being fetched, with the callers waiting for that fetch.
    private let waiters = Mutex<[TokenKey: [CheckedContinuation<Bool, Never>]]>([:])

    init(pool: TokenPool, upstream: @escaping @Sendable () -> UpstreamClient, logger: Logger) {
        self.pool = pool
        self.upstream = upstream
        self.logger = logger
    }

    /// Fetches a new JWT for the license behind `key`; false when that failed. Concurrent
    /// calls for one license share a single fetch (single flight).
    @discardableResult
    func refresh(_ key: TokenKey) async -> Bool {
        guard let record = pool.snapshot().first(where: { $0.key == key }),
              case .license(let id, let authorization) = record.config.source
        else { return false }
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
            let jwt = try await upstream().licenseJWT(licenseID: id, authorization: authorization)
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

    /// Runs until cancelled: fetches missing license JWTs and renews them before they expire
    /// (at 80% of their lifetime, at least a minute before `exp`).
    func run() async {
        while !Task.isCancelled {
            let now = Date()
            var next = now.addingTimeInterval(30)
            for record in pool.snapshot() where record.isLicense {
                let due: Date
                if let jwt = record.jwt {
                    guard let exp = jwtExpiry(jwt) else { continue }
                    let lifetime = max(0, exp.timeIntervalSince(now))
                    due = exp.addingTimeInterval(-max(60, min(lifetime * 0.2, 3600)))
                } else {
                    due = now
                }
                if due <= now {
                    if await refresh(record.key) == false, record.jwt == nil || (record.jwt.flatMap(jwtExpiry) ?? now) <= now {
                        pool.invalidate(key: record.key, reason: "license JWT could not be fetched")
                    }
                    next = min(next, now.addingTimeInterval(30))
                } else {
                    next = min(next, due)
                }
            }
            let wait = max(1, next.timeIntervalSinceNow)
            try? await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
        }
    }
}
