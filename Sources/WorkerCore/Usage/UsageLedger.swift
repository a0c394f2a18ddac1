import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import Shared
import Synchronization

/// One finished request as the ledger stores it.
struct UsageRecord: Sendable, Equatable {
    /// Seconds since 1970 (UTC).
    var time: Double
    var tenant: String
    /// The client key's name (`-` on a tenant without keys, or a request that presented none).
    var key: String
    var api: String
    var model: String
    var profile: String
    /// The JWT's name (of the last attempt); empty when no JWT was tried.
    var token: String
    var status: Int
    var attempts: Int
    var durationMs: Double
    /// `QuotaMetadata.spent`, 0 when the upstream reported none.
    var quotaSpent: Double
    var tokensIn: Int
    var tokensOut: Int
}

/// What `ctl usage` groups by.
enum UsageGrouping: String, Sendable, CaseIterable {
    case key, model, token, day

    var column: String {
        switch self {
        case .key: return "key"
        case .model: return "model"
        case .token: return "token"
        case .day: return "strftime('%Y-%m-%d', time, 'unixepoch')"
        }
    }
}

/// A tenant's usage ledger: `<state_dir>/<tenant>/usage.sqlite` (WAL), written only by its
/// worker. Requests hand records to `enqueue`, which never waits: a bounded queue, drained by
/// one writer task in batches (one multi-row INSERT, one transaction, per batch). A full queue,
/// a database that cannot be opened or a failed write drops records: counted (`onDropped`) and
/// logged, never in the way of serving.
final class UsageLedger: Sendable {
    let path: String
    let capacity: Int
    private let logger: Logger
    private let onDropped: @Sendable (Int) -> Void
    private let state = Mutex(State())
    private let connection = Mutex<SQLiteConnection?>(nil)
    private let wake: AsyncStream<Void>.Continuation
    private let wakeups: AsyncStream<Void>
    /// Rows per INSERT (13 columns each: well under SQLite's variable limit).
    static let batchRows = 500

    private struct State: Sendable {
        var pending: [UsageRecord] = []
        var closed = false
        /// Records enqueued and not yet committed or dropped (for `waitUntilWritten`).
        var unwritten = 0
    }

    /// How long the writer waits after a first record for more to join its batch: a commit per
    /// request would cost more CPU than the request (measured: ~150 µs a request at one client).
    /// A SIGKILL loses at most this much of the newest, not yet committed, records.
    let linger: Duration

    init(
        path: String, capacity: Int = 10_000, linger: Duration = .milliseconds(200), logger: Logger,
        onDropped: @escaping @Sendable (Int) -> Void
    ) {
        self.path = path
        self.capacity = capacity
        self.linger = linger
        self.logger = logger
        self.onDropped = onDropped
        (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    static let schema = """
        CREATE TABLE IF NOT EXISTS usage (
            id INTEGER PRIMARY KEY,
            time REAL NOT NULL,
            tenant TEXT NOT NULL,
            key TEXT NOT NULL,
            api TEXT NOT NULL,
            model TEXT NOT NULL,
            profile TEXT NOT NULL,
            token TEXT NOT NULL,
            status INTEGER NOT NULL,
            attempts INTEGER NOT NULL,
            duration_ms REAL NOT NULL,
            quota_spent REAL NOT NULL,
            tokens_in INTEGER NOT NULL,
            tokens_out INTEGER NOT NULL
        )
        """

    /// Opens (creating) the database. On failure the ledger stays closed: every record is
    /// dropped and counted, serving goes on.
    func open() async {
        do {
            let directory = (path as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let db = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
            // A replacement worker of the same tenant writes the same file for a moment.
            _ = try await db.query("PRAGMA busy_timeout = 5000")
            _ = try await db.query("PRAGMA journal_mode = WAL")
            // WAL + NORMAL: a commit survives the process being killed (not a power cut).
            _ = try await db.query("PRAGMA synchronous = NORMAL")
            _ = try await db.query(Self.schema)
            _ = try await db.query("CREATE INDEX IF NOT EXISTS usage_time ON usage (time)")
            connection.withLock { $0 = db }
        } catch {
            logger.error("usage ledger unavailable, requests are served but not recorded", metadata: [
                "path": "\(path)", "error": "\(error)",
            ])
        }
    }

    /// Hands a record to the writer; false when it was dropped (queue full, ledger closed).
    @discardableResult
    func enqueue(_ record: UsageRecord) -> Bool {
        let refusal = state.withLock { s -> String? in
            if s.closed { return "the ledger is closed (the worker is stopping)" }
            guard s.pending.count < capacity else { return "the write queue is full" }
            s.pending.append(record)
            s.unwritten += 1
            return nil
        }
        guard let refusal else {
            wake.yield()
            return true
        }
        dropped(1, reason: refusal)
        return false
    }

    /// Counted every time; logged at most once a second (with what was dropped since), so a
    /// full disk under load does not turn into a log line per request.
    private func dropped(_ count: Int, reason: String) {
        onDropped(count)
        let now = ContinuousClock.now
        let toLog = dropLog.withLock { log -> Int? in
            log.unlogged += count
            if let last = log.last, now - last < .seconds(1) { return nil }
            log.last = now
            defer { log.unlogged = 0 }
            return log.unlogged
        }
        if let toLog {
            logger.warning("usage ledger dropped records", metadata: ["records": "\(toLog)", "reason": "\(reason)"])
        }
    }

    private let dropLog = Mutex<(last: ContinuousClock.Instant?, unlogged: Int)>((nil, 0))

    /// The writer: runs until `close()`, then writes what is left.
    func run() async {
        for await _ in wakeups {
            if linger > .zero, !state.withLock({ $0.closed }) { try? await Task.sleep(for: linger) }
            await writePending()
        }
        await writePending()
    }

    /// No more records; `run` returns once the queue is written.
    func close() {
        state.withLock { $0.closed = true }
        wake.finish()
    }

    private func writePending() async {
        while true {
            let batch = state.withLock { s -> [UsageRecord] in
                let batch = Array(s.pending.prefix(Self.batchRows))
                s.pending.removeFirst(batch.count)
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                guard let db = connection.withLock({ $0 }) else { throw LedgerClosed() }
                try await Self.insert(batch, into: db)
            } catch {
                dropped(batch.count, reason: "\(error)")
            }
            state.withLock { $0.unwritten -= batch.count }
        }
    }

    struct LedgerClosed: Error, CustomStringConvertible {
        var description: String { "the database could not be opened" }
    }

    private static func insert(_ batch: [UsageRecord], into db: SQLiteConnection) async throws {
        let row = "(?,?,?,?,?,?,?,?,?,?,?,?,?)"
        let sql = "INSERT INTO usage (time, tenant, key, api, model, profile, token, status, attempts, duration_ms, "
            + "quota_spent, tokens_in, tokens_out) VALUES " + Array(repeating: row, count: batch.count).joined(separator: ",")
        var binds: [SQLiteData] = []
        binds.reserveCapacity(batch.count * 13)
        for r in batch {
            binds += [
                .float(r.time), .text(r.tenant), .text(r.key), .text(r.api), .text(r.model), .text(r.profile),
                .text(r.token), .integer(SQLiteInt64(r.status)), .integer(SQLiteInt64(r.attempts)), .float(r.durationMs), .float(r.quotaSpent),
                .integer(SQLiteInt64(r.tokensIn)), .integer(SQLiteInt64(r.tokensOut)),
            ]
        }
        _ = try await db.query(sql, binds)
    }

    /// Deletes records older than `cutoff` (seconds since 1970); how many went.
    @discardableResult
    func prune(before cutoff: Double) async -> Int {
        guard let db = connection.withLock({ $0 }) else { return 0 }
        do {
            _ = try await db.query("DELETE FROM usage WHERE time < ?", [.float(cutoff)])
            let rows = try await db.query("SELECT changes() AS n")
            return Int(rows.first?.column("n")?.integer ?? 0)
        } catch {
            logger.warning("usage ledger: pruning failed", metadata: ["error": "\(error)"])
            return 0
        }
    }

    /// Quota spent since `since` by key name (to restore `daily_quota` at start).
    func spent(since: Double) async -> [String: Double] {
        guard let db = connection.withLock({ $0 }) else { return [:] }
        do {
            let rows = try await db.query(
                "SELECT key, SUM(quota_spent) AS spent FROM usage WHERE time >= ? GROUP BY key", [.float(since)])
            var result: [String: Double] = [:]
            for row in rows {
                if let key = row.column("key")?.string { result[key] = row.column("spent")?.double ?? 0 }
            }
            return result
        } catch {
            logger.warning("usage ledger: reading today's spending failed", metadata: ["error": "\(error)"])
            return [:]
        }
    }

    /// The committed records since `since`, grouped.
    func aggregate(tenant: String, by grouping: UsageGrouping, since: Double) async throws -> [UsageRow] {
        guard let db = connection.withLock({ $0 }) else { throw LedgerClosed() }
        let rows = try await db.query("""
            SELECT \(grouping.column) AS grp, COUNT(*) AS requests, SUM(status >= 400) AS errors,
                   SUM(attempts) AS attempts, SUM(quota_spent) AS spent, SUM(tokens_in) AS tin, SUM(tokens_out) AS tout
            FROM usage WHERE time >= ? GROUP BY grp ORDER BY grp
            """, [.float(since)])
        return rows.map { row in
            UsageRow(
                tenant: tenant, group: row.column("grp")?.string ?? "", requests: Int(row.column("requests")?.integer ?? 0),
                errors: Int(row.column("errors")?.integer ?? 0), attempts: Int(row.column("attempts")?.integer ?? 0),
                quotaSpent: row.column("spent")?.double ?? 0, tokensIn: Int(row.column("tin")?.integer ?? 0),
                tokensOut: Int(row.column("tout")?.integer ?? 0)
            )
        }
    }

    /// Records handed in but not yet committed or dropped.
    var unwritten: Int { state.withLock { $0.unwritten } }

    func shutdown() async {
        let db = connection.withLock { c -> SQLiteConnection? in
            defer { c = nil }
            return c
        }
        try? await db?.close()
    }
}
