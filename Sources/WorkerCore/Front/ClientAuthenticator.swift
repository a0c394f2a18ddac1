import NIOHTTP1
import Shared

/// Checks a client's key (`Authorization: Bearer KEY` or `x-api-key: KEY`) against the
/// tenant's keys in constant time. Keys are never logged; at most their fingerprint is.
struct ClientAuthenticator: Sendable {
    private let keys: [[UInt8]]
    /// Each of `keys`' index in the list given to `init` (empty keys are left out).
    private let positions: [Int]

    /// Each configured key's name, in the order given to `init`.
    let names: [String]

    init(keys: [String], names: [String] = []) {
        let kept = keys.enumerated().filter { !$0.element.isEmpty }
        self.keys = kept.map { Array($0.element.utf8) }
        self.positions = kept.map(\.offset)
        self.names = keys.indices.map { $0 < names.count ? names[$0] : ClientKeyPolicy.defaultName(for: keys[$0]) }
    }

    /// The tenant's keys with their names (`api_keys` entries).
    init(settings: TenantConfig) {
        self.init(keys: settings.apiKeys, names: settings.apiKeys.indices.map { settings.keyPolicy(at: $0).name })
    }

    /// The name of the key the request presents, or nil.
    func matchedName(_ headers: HTTPHeaders) -> String? {
        matchedKey(headers).map { names[$0] }
    }

    /// No keys configured: every request is let in (the seed's behaviour without `-k`).
    var isOpen: Bool { keys.isEmpty }

    /// The key a client presented: the value of `Authorization` without its `Bearer ` scheme
    /// (any case), else `x-api-key`, without surrounding spaces and tabs. Byte-level: this runs
    /// for every request (Foundation's `trimmingCharacters` cost ~15 µs here).
    static func presentedKey(_ headers: HTTPHeaders) -> String? {
        if let auth = headers.first(name: "authorization") {
            var value = trimmed(Substring(auth))
            let utf8 = value.utf8
            if utf8.count >= 7, utf8.prefix(6).elementsEqual("bearer".utf8, by: { $0 | 0x20 == $1 }),
               utf8[utf8.index(utf8.startIndex, offsetBy: 6)] == UInt8(ascii: " ") {
                value = trimmed(Substring(utf8.dropFirst(7)))
            }
            return String(value)
        }
        return headers.first(name: "x-api-key").map { String(trimmed(Substring($0))) }
    }

    /// Without leading and trailing spaces and tabs (a header's optional whitespace).
    static func trimmed(_ s: Substring) -> Substring {
        let utf8 = s.utf8
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
        guard let first = utf8.firstIndex(where: { !isSpace($0) }), let last = utf8.lastIndex(where: { !isSpace($0) })
        else { return s[s.endIndex...] }
        return Substring(utf8[first...last])
    }

    func isAuthorized(_ headers: HTTPHeaders) -> Bool {
        if isOpen { return true }
        return matchedKey(headers) != nil
    }

    /// The index (in the configured order) of the key the request presents, or nil.
    /// Every key is compared without early exit, so timing reveals neither which key matched
    /// nor how much of one did. Keys given more than once match at their first position.
    func matchedKey(_ headers: HTTPHeaders) -> Int? {
        guard let presented = Self.presentedKey(headers) else { return nil }
        let candidate = Array(presented.utf8)
        var matched = -1
        for (index, key) in keys.enumerated() {
            let equal = Self.constantTimeEquals(key, candidate)
            // Branch-free select: keep the first match.
            let take = equal && matched < 0
            matched = take ? index : matched
        }
        return matched >= 0 ? positions[matched] : nil
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
