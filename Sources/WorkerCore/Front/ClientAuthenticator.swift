import NIOHTTP1
import Shared

/// Checks a client's key (`Authorization: Bearer KEY` or `x-api-key: KEY`) against the
/// tenant's keys in constant time. Keys are never logged; at most their fingerprint is.
struct ClientAuthenticator: Sendable {
    private let keys: [[UInt8]]
    /// Each key's fingerprint, made once (a request's access-log line names its key by it).
    private let labels: [String]

    init(keys: [String]) {
        let kept = keys.filter { !$0.isEmpty }
        self.keys = kept.map { Array($0.utf8) }
        self.labels = kept.map(fingerprint)
    }

    /// No keys configured: every request is let in (the seed's behaviour without `-k`).
    var isOpen: Bool { keys.isEmpty }

    /// Who a request is, as far as its key goes.
    enum Verdict: Sendable, Equatable {
        /// One of the tenant's keys, by its fingerprint.
        case key(label: String)
        /// No keys are configured: let in; the label is the presented key's fingerprint, if any.
        case open(label: String?)
        /// A wrong or missing key.
        case rejected

        var isAuthorized: Bool { self != .rejected }
        var label: String? {
            switch self {
            case .key(let label): return label
            case .open(let label): return label
            case .rejected: return nil
            }
        }
    }

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

    func verdict(_ headers: HTTPHeaders) -> Verdict {
        guard !isOpen else { return .open(label: Self.presentedKey(headers).map(fingerprint)) }
        guard let presented = Self.presentedKey(headers) else { return .rejected }
        let candidate = Array(presented.utf8)
        // Compare against every key without early exit, so timing reveals neither which key
        // matched nor how much of one did.
        var matched = -1
        for (i, key) in keys.enumerated() {
            let equal = Self.constantTimeEquals(key, candidate)
            matched = equal ? i : matched
        }
        return matched >= 0 ? .key(label: labels[matched]) : .rejected
    }

    func isAuthorized(_ headers: HTTPHeaders) -> Bool { verdict(headers).isAuthorized }

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
