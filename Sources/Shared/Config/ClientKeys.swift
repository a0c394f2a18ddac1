// Named client keys and the limits a fleet file puts on them (`api_keys` entries written as
// mappings, `api_keys_file` lines `name:key`, a tenant's `limits:`). The keys themselves stay in
// `TenantConfig.apiKeys`; `TenantConfig.keyPolicies` holds, index for index, each key's name and
// limits, so nothing but the key list ever carries a secret.

/// `rpm`, `max_concurrent`, `daily_quota`, `models`: each nil when not set (no limit).
public struct UsageLimits: Sendable, Equatable, Hashable, Codable {
    /// Requests admitted in any 60-second window.
    public var rpm: Int?
    /// Requests answered at once.
    public var maxConcurrent: Int?
    /// JetBrains quota units (`QuotaMetadata.spent`) per UTC day.
    public var dailyQuota: Double?
    /// Glob patterns (`*`, `?`) of the model names a client may ask for.
    public var models: [String]?

    public init(rpm: Int? = nil, maxConcurrent: Int? = nil, dailyQuota: Double? = nil, models: [String]? = nil) {
        self.rpm = rpm
        self.maxConcurrent = maxConcurrent
        self.dailyQuota = dailyQuota
        self.models = models
    }

    public var isEmpty: Bool { rpm == nil && maxConcurrent == nil && dailyQuota == nil && models == nil }
}

/// One client key's name and limits (never its value).
public struct ClientKeyPolicy: Sendable, Equatable, Hashable, Codable {
    public var name: String
    public var limits: UsageLimits

    public init(name: String, limits: UsageLimits = UsageLimits()) {
        self.name = name
        self.limits = limits
    }

    /// The name of a key written as a plain string: `key-` and the first 8 hex digits of its
    /// SHA-256 (stable when keys are added or reordered, and reveals nothing of the key).
    public static func defaultName(for key: String) -> String {
        "key-" + SHA256.hex(key).prefix(8)
    }

    /// `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`: a metric label and a ledger column, never quoted.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 64 else { return false }
        func isAlnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) }
        return isAlnum(first) && bytes.allSatisfy { isAlnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }
}

/// `*` any run of characters, `?` one character; everything else literal.
public func globMatches(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern.unicodeScalars), t = Array(text.unicodeScalars)
    var pi = 0, ti = 0
    var star = -1, mark = 0
    while ti < t.count {
        if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
            pi += 1; ti += 1
        } else if pi < p.count, p[pi] == "*" {
            star = pi; mark = ti; pi += 1
        } else if star >= 0 {
            pi = star + 1; mark += 1; ti = mark
        } else {
            return false
        }
    }
    while pi < p.count, p[pi] == "*" { pi += 1 }
    return pi == p.count
}
