import Foundation
import Shared

/// Something that happened to the fleet, as the reconciler decides it: the runtime stamps it
/// with the wall-clock time and keeps the last N (`ctl events`, `GET /events`, the status page).
struct FleetHistoryEvent: Sendable, Equatable {
    enum Kind: String, Codable, Sendable, CaseIterable {
        case started, running, exited, hung, killed, backoff, fatal, replaced
        case startFailed = "start_failed"
        case reloadApplied = "reload_applied"
        case reloadRejected = "reload_rejected"
        case tokenState = "token_state"
    }

    var kind: Kind
    /// Nil for the fleet as a whole (reloads).
    var tenant: String?
    /// For people.
    var message: String
    /// For machines: pid, generation, exit code or signal, delay, token, from/to state, errors…
    var details: [String: String] = [:]
}

/// One kept event: numbered (for `--follow` and paging) and dated.
struct HistoryEntry: Codable, Sendable, Equatable {
    var seq: Int
    var time: Date
    var kind: FleetHistoryEvent.Kind
    var tenant: String?
    var message: String
    var details: [String: String]
}

/// The last `capacity` events, oldest first: a ring buffer that never grows past its capacity.
struct EventHistory: Sendable {
    let capacity: Int
    private var ring: [HistoryEntry] = []
    /// Where the oldest entry is, once the ring is full.
    private var start = 0
    private(set) var nextSeq = 1

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        ring.reserveCapacity(min(self.capacity, 1024))
    }

    var count: Int { ring.count }

    @discardableResult
    mutating func append(_ event: FleetHistoryEvent, at time: Date) -> HistoryEntry {
        let entry = HistoryEntry(
            seq: nextSeq, time: time, kind: event.kind, tenant: event.tenant, message: event.message, details: event.details
        )
        nextSeq += 1
        if ring.count < capacity {
            ring.append(entry)
        } else {
            ring[start] = entry
            start = (start + 1) % capacity
        }
        return entry
    }

    /// Every kept entry, oldest first.
    var all: [HistoryEntry] { Array(ring[start...] + ring[..<start]) }

    /// The last `limit` entries (of `tenant` only, when given; fleet-wide events such as
    /// reloads are shown for every tenant), oldest first.
    func last(_ limit: Int, tenant: String? = nil) -> [HistoryEntry] {
        let matching = all.filter { Self.matches($0, tenant: tenant) }
        return Array(matching.suffix(max(0, limit)))
    }

    static func matches(_ entry: HistoryEntry, tenant: String?) -> Bool {
        guard let tenant else { return true }
        return entry.tenant == nil || entry.tenant == tenant
    }
}
