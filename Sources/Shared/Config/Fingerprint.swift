/// A short, safe-to-log identification of a secret (a JWT, an API key): its first 10
/// characters, `...`, and — for secrets of 24 characters or more — `#` and the first 4 hex
/// digits of the SHA-256 of the whole secret (`eyJhbGciOi...#3fa2`), so two JWTs with the same
/// header (every HS256 JWT starts `eyJhbGciOi`) can be told apart. Secrets of 14 to 23
/// characters show only the prefix; shorter ones (fewer than 14 characters) only their first 3
/// characters, and secrets of 3 characters or fewer nothing but `...`, so a fingerprint never
/// reveals a whole secret or most of it (the 16-bit hash is added only where at least 14
/// characters stay hidden).
public func fingerprint(_ secret: String) -> String {
    let count = secret.count
    if count >= 24 { return String(secret.prefix(10)) + "...#" + fingerprintHash(secret) }
    if count >= 14 { return String(secret.prefix(10)) + "..." }
    if count > 3 { return String(secret.prefix(3)) + "..." }
    return "..."
}

/// The first 4 hex digits of the SHA-256 of `secret`.
func fingerprintHash(_ secret: String) -> String {
    String(SHA256.hex(secret).prefix(4))
}
