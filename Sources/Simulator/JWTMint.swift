import Foundation

/// Makes and reads the unsigned JWTs the license endpoint hands out.
enum JWTMint {
    struct Minted: Sendable {
        var token: String
        var expiresAt: Date
    }

    /// A standard three-part token: header `{"alg":"none","typ":"JWT"}`, payload
    /// `{"sub", "iat", "exp", "jti"}`, and a base64url filler as signature. `kind` tells
    /// license JWTs (`jwt`) and OAuth id tokens (`id-token`) apart in the filler.
    static func mint(subject: String, ttlSeconds: Int, serial: Int, now: Date, kind: String = "jwt") -> Minted {
        let iat = Int(now.timeIntervalSince1970)
        // Rounded up, so a token lives at least `ttlSeconds` (a truncated `iat + ttl` could
        // leave a 1 s token almost no time at all).
        let exp = Int((now.timeIntervalSince1970 + Double(ttlSeconds)).rounded(.up))
        let header: SimJSON = ["alg": "none", "typ": "JWT"]
        let payload: SimJSON = [
            "sub": .string(subject), "iat": .int(iat), "exp": .int(exp), "jti": .string(String(serial)),
        ]
        let filler = kind == "jwt" ? "jetbrains-ai-simulator-\(serial)" : "jetbrains-ai-simulator-\(kind)-\(serial)"
        let signature = base64url(Data(filler.utf8))
        let token = [base64url(Data(header.text.utf8)), base64url(Data(payload.text.utf8)), signature]
            .joined(separator: ".")
        return Minted(token: token, expiresAt: Date(timeIntervalSince1970: TimeInterval(exp)))
    }

    /// The payload of a three-part token, nil when `token` is not one.
    static func payload(of token: String) -> SimJSON? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = decodeBase64url(String(parts[1])) else { return nil }
        guard let payload = SimJSON.parse(data), payload.objectValue != nil else { return nil }
        return payload
    }

    /// The `exp` claim of a token, nil when it has none.
    static func expiry(of token: String) -> Date? {
        guard let exp = payload(of: token)?["exp"]?.doubleValue else { return nil }
        return Date(timeIntervalSince1970: exp)
    }

    static func base64url(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64url(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
