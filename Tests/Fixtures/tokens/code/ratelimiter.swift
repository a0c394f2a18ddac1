import Foundation

/// A token-bucket rate limiter: `capacity` requests at once, refilled at `refillPerSecond`.
/// Each key (a client, a tenant) has its own bucket; buckets idle for longer than
/// `evictAfter` are dropped so that the table does not grow without bound.
struct RateLimiter: Sendable {
    struct Bucket: Sendable, Equatable {
        var tokens: Double
        var updatedAt: TimeInterval
    }

    enum Decision: Equatable {
        case allowed(remaining: Int)
        case limited(retryAfter: TimeInterval)
    }

    let capacity: Double
    let refillPerSecond: Double
    let evictAfter: TimeInterval
    private var buckets: [String: Bucket] = [:]

    init(capacity: Int, refillPerSecond: Double, evictAfter: TimeInterval = 600) {
        precondition(capacity > 0 && refillPerSecond > 0, "limits must be positive")
        self.capacity = Double(capacity)
        self.refillPerSecond = refillPerSecond
        self.evictAfter = evictAfter
    }

    mutating func take(_ key: String, cost: Double = 1, now: TimeInterval) -> Decision {
        var bucket = buckets[key] ?? Bucket(tokens: capacity, updatedAt: now)
        let elapsed = max(0, now - bucket.updatedAt)
        bucket.tokens = min(capacity, bucket.tokens + elapsed * refillPerSecond)
        bucket.updatedAt = now
        defer { buckets[key] = bucket }
        guard bucket.tokens >= cost else {
            let missing = cost - bucket.tokens
            return .limited(retryAfter: missing / refillPerSecond)
        }
        bucket.tokens -= cost
        return .allowed(remaining: Int(bucket.tokens.rounded(.down)))
    }

    mutating func evictIdle(now: TimeInterval) -> Int {
        let before = buckets.count
        buckets = buckets.filter { now - $0.value.updatedAt < evictAfter }
        return before - buckets.count
    }

    var trackedKeys: Int { buckets.count }
}

extension RateLimiter.Decision: CustomStringConvertible {
    var description: String {
        switch self {
        case .allowed(let remaining):
            return "allowed (\(remaining) left)"
        case .limited(let retryAfter):
            return String(format: "limited, retry after %.2fs", retryAfter)
        }
    }
}

// MARK: - Usage

var limiter = RateLimiter(capacity: 5, refillPerSecond: 0.5)
let start = Date().timeIntervalSince1970
for attempt in 1...8 {
    let decision = limiter.take("tenant-42", now: start + Double(attempt) * 0.1)
    print("attempt \(attempt): \(decision)")
}
if case .limited(let wait) = limiter.take("tenant-42", now: start + 1) {
    print("waiting \(wait) seconds before the next request")
}
