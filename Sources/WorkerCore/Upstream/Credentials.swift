import Foundation
import Shared

/// The two calls behind a license token, as `LicenseManager` needs them (`UpstreamClient`
/// speaks them; tests put a fake in its place).
protocol CredentialUpstream: Sendable {
    /// `POST /auth/jetbrains-jwt/provide-access/license/v2` with `Authorization: Bearer <id token>`.
    func licenseJWT(licenseID: String, authorization: String) async throws -> String
    /// `POST <account_url>/api/rest/oauth2/token` with `grant_type=refresh_token`.
    func exchangeRefreshToken(_ refreshToken: String) async throws -> OAuthTokenAnswer
}

extension UpstreamClient: CredentialUpstream {}

/// Why the license endpoint gave no JWT. Never carries a secret.
struct LicenseError: Error, CustomStringConvertible, Equatable {
    /// The HTTP status when the endpoint answered with one other than 200.
    var status: Int?
    var description: String

    /// The id token was refused: a fresh one may help.
    var isUnauthorized: Bool { status == 401 || status == 403 }
}

enum LicenseAnswer {
    /// The JWT in a license answer: any `state` is accepted as long as a non-empty `token`
    /// comes with it (public clients differ on the states; the token is what matters).
    static func parse(status: Int, body: String) throws -> String {
        guard status == 200 else {
            throw LicenseError(status: status, description: "license endpoint answered \(status)")
        }
        guard let json = JSONValue(parsing: body), case .object = json else {
            throw LicenseError(status: nil, description: "license endpoint answered no JSON object")
        }
        guard let token = json["token"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty
        else {
            let state = json["state"].map { "state \(safeState($0.stringValue ?? $0.jsonText))" } ?? "no state"
            throw LicenseError(status: nil, description: "license answer has no token (\(state))")
        }
        return token
    }

    /// A state is a short word; anything else is cut and never shown whole.
    private static func safeState(_ state: String) -> String {
        let short = state.count <= 32 && state.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0 == "_" || $0 == "-" }
        return short ? "'\(state)'" : "'\(fingerprint(state))'"
    }
}

/// What the OAuth token endpoint gave for a refresh token.
struct OAuthTokenAnswer: Sendable, Equatable {
    /// `id_token`, else `access_token`: what the license endpoint takes as its Bearer.
    var idToken: String
    /// `expires_in` in seconds, when the answer had a usable one.
    var expiresIn: TimeInterval?
    /// A new refresh token when the endpoint rotated it (it replaces the old one, which is dead).
    var refreshToken: String?
}

/// The OAuth endpoint refused or answered something unusable. Never carries a secret.
struct OAuthError: Error, CustomStringConvertible, Equatable {
    var status: Int?
    /// The OAuth `error` code (`invalid_grant`, …) when the answer had one.
    var code: String?
    var description: String

    /// The refresh token itself was refused (revoked, expired or already rotated away).
    var isInvalidGrant: Bool { code == "invalid_grant" }
}

enum OAuthToken {
    static let path = "/api/rest/oauth2/token"
    static let clientID = "ide"

    /// `grant_type=refresh_token&refresh_token=…&client_id=ide`, form-encoded.
    static func formBody(refreshToken: String) -> String {
        "grant_type=refresh_token&refresh_token=\(formEncode(refreshToken))&client_id=\(clientID)"
    }

    /// `application/x-www-form-urlencoded` value encoding: unreserved characters stay, the
    /// rest is percent-encoded (space too: no `+`, which every decoder reads the same way).
    static func formEncode(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    /// Reads the endpoint's answer tolerantly: `expires_in` as a number or a string, unknown
    /// fields ignored, `id_token` or `access_token`.
    static func parse(status: Int, body: String) throws -> OAuthTokenAnswer {
        let json = JSONValue(parsing: body)
        guard status == 200 else {
            let code = json?["error"]?.stringValue.flatMap(safeCode)
            var description = "OAuth token endpoint answered \(status)"
            if let code { description += " \(code)" }
            if code == "invalid_grant" {
                description += " (the refresh token was refused: revoked, expired or already used; "
                    + "put a new refresh_token in the configuration)"
            }
            throw OAuthError(status: status, code: code, description: description)
        }
        guard let json, case .object = json else {
            throw OAuthError(status: nil, code: nil, description: "OAuth token endpoint answered no JSON object")
        }
        func nonEmptyString(_ key: String) -> String? {
            guard let s = json[key]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !s.isEmpty else { return nil }
            return s
        }
        guard let idToken = nonEmptyString("id_token") ?? nonEmptyString("access_token") else {
            throw OAuthError(status: nil, code: nil, description: "OAuth token answer has neither id_token nor access_token")
        }
        var expiresIn: TimeInterval?
        switch json["expires_in"] {
        case .number(let n)?: expiresIn = n
        case .string(let s)?: expiresIn = TimeInterval(s.trimmingCharacters(in: .whitespaces))
        default: expiresIn = nil
        }
        if let e = expiresIn, !(e.isFinite && e > 0) { expiresIn = nil }
        return OAuthTokenAnswer(idToken: idToken, expiresIn: expiresIn, refreshToken: nonEmptyString("refresh_token"))
    }

    /// An OAuth error code is a short token (`invalid_grant`); anything else is not shown.
    private static func safeCode(_ code: String) -> String? {
        let ok = !code.isEmpty && code.count <= 64
            && code.unicodeScalars.allSatisfy { ($0.isASCII && $0.properties.isAlphabetic) || $0 == "_" || $0 == "-" }
        return ok ? code : nil
    }
}
