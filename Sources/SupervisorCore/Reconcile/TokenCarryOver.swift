import Shared

/// The JWT health a new worker starts with: what the slot's last worker reported, for the JWTs
/// that stay. A JWT is matched by its credential (a reload may rename it) and named as in the
/// new settings.
enum TokenCarryOver {
    static func states(from last: LastHealth?, into settings: TenantConfig) -> [CarriedTokenState] {
        guard let last else { return [] }
        let oldSources = Dictionary(last.settings.tokens.map { ($0.name, $0.source) }, uniquingKeysWith: { a, _ in a })
        return last.report.tokens.compactMap { token in
            guard let source = oldSources[token.name],
                  let now = settings.tokens.first(where: { $0.source == source })
            else { return nil }
            return CarriedTokenState(
                name: now.name, state: token.state, until: token.until,
                consecutiveFailures: token.consecutiveFailures, lastError: token.lastError
            )
        }
    }
}
