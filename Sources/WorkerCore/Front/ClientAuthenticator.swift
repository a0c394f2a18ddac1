import NIOHTTP1
import Shared

/// Checks a client's key (`Authorization: Bearer KEY` or `x-api-key: KEY`) against the
/// tenant's keys in constant time. Keys are never logged; at most their fingerprint is.
struct ClientAuthenticator: Sendable {
    private let keys: [[UInt8]]

    init(keys: [String]) {
        self.keys = keys.filter { !$0.isEmpty }.map { Array($0.utf8) }
    }

    /// No keys configured: every request is let in (the seed's behaviour without `-k`).
    var isOpen: Bool { keys.isEmpty }

    static func presentedKey(_ headers: HTTPHeaders) -> String? {
        if let auth = headers.first(name: "authorization") {
            let trimmed = auth.trimmingCharacters(in: .whitespaces)
            if trimmed.lowercased().hasPrefix("bearer ") {
                return String(trimmed.dropFirst(7)).trimmingCharacters(in: .whitespaces)
            }
            return trimmed
        }
        return headers.first(name: "x-api-key")?.trimmingCharacters(in: .whitespaces)
    }

    func isAuthorized(_ headers: HTTPHeaders) -> Bool {
        if isOpen { return true }
        guard let presented = Self.presentedKey(headers) else { return false }
        let candidate = Array(presented.utf8)
        // Compare against every key without early exit, so timing reveals neither which key
        // matched nor how much of one did.
        var matched = false
        for key in keys {
            matched = Self.constantTimeEquals(key, candidate) || matched
        }
        return matched
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff: UInt8 = a.count == b.count ? 0 : 1
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0
    }
}

import Foundation
