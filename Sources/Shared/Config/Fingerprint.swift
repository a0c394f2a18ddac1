/// A short, safe-to-log identification of a secret (a JWT, an API key): its first 10
/// characters and `...`. Short secrets (fewer than 14 characters) show only their first 3
/// characters, and secrets of 3 characters or fewer show nothing but `...`, so a fingerprint
/// never reveals a whole secret or most of it.
public func fingerprint(_ secret: String) -> String {
    let count = secret.count
    if count >= 14 { return String(secret.prefix(10)) + "..." }
    if count > 3 { return String(secret.prefix(3)) + "..." }
    return "..."
}
