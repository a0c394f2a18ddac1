/// One group of a tenant's usage ledger (`GET /usage` on a worker's control socket, and the
/// rows of the supervisor's `GET /usage`): encoded by the worker, decoded by the supervisor.
public struct UsageRow: Sendable, Codable, Equatable {
    public var tenant: String
    /// The key name, model, JWT name or UTC day (`2026-12-01`) the row is about.
    public var group: String
    public var requests: Int
    /// Requests answered with a status of 400 or more.
    public var errors: Int
    /// Upstream calls (failovers make more than one per request).
    public var attempts: Int
    public var quotaSpent: Double
    public var tokensIn: Int
    public var tokensOut: Int

    public init(
        tenant: String, group: String, requests: Int, errors: Int, attempts: Int, quotaSpent: Double,
        tokensIn: Int, tokensOut: Int
    ) {
        self.tenant = tenant
        self.group = group
        self.requests = requests
        self.errors = errors
        self.attempts = attempts
        self.quotaSpent = quotaSpent
        self.tokensIn = tokensIn
        self.tokensOut = tokensOut
    }

    enum CodingKeys: String, CodingKey {
        case tenant, group, requests, errors, attempts
        case quotaSpent = "quota_spent"
        case tokensIn = "tokens_in"
        case tokensOut = "tokens_out"
    }
}
