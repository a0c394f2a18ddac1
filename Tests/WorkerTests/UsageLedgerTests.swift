import Foundation
import Logging
import Testing
@testable import WorkerCore

/// The SQLite ledger on a temporary file: the bounded queue, batched commits, aggregation,
/// today's spending and pruning.
@Suite struct UsageLedgerTests {
    func record(_ key: String, time: Double, model: String = "gpt-4o", status: Int = 200, spent: Double = 1) -> UsageRecord {
        UsageRecord(
            time: time, tenant: "team-a", key: key, api: "chat", model: model, profile: "openai-gpt-4o", token: "t1",
            status: status, attempts: 1, durationMs: 12.5, quotaSpent: spent, tokensIn: 10, tokensOut: 4)
    }

    @Test func queuesCommitsAggregatesAndPrunes() async throws {
        let folder = FileManager.default.temporaryDirectory.path + "/usage-ledger-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dropped = Locked(0)
        let ledger = UsageLedger(path: folder + "/team-a/usage.sqlite", capacity: 4, logger: Logger(label: "test")) { n in
            dropped.withLock { $0 += n }
        }
        await ledger.open()
        let now = 1_796_119_200.0
        // No writer yet: the queue holds 4, the 5th is dropped and counted.
        #expect(ledger.enqueue(record("alice", time: now - 100 * 86_400)))
        #expect(ledger.enqueue(record("alice", time: now, spent: 2.5)))
        #expect(ledger.enqueue(record("bob", time: now, model: "claude-x", status: 429, spent: 0)))
        #expect(ledger.enqueue(record("alice", time: now + 1)))
        #expect(!ledger.enqueue(record("bob", time: now)))
        #expect(dropped.withLock { $0 } == 1)
        let writer = Task { await ledger.run() }
        ledger.close()
        await writer.value
        #expect(ledger.unwritten == 0)
        // Closed: nothing more is taken.
        #expect(!ledger.enqueue(record("bob", time: now)))

        let byKey = try await ledger.aggregate(tenant: "team-a", by: .key, since: 0)
        #expect(byKey.map(\.group) == ["alice", "bob"])
        #expect(byKey[0].requests == 3 && byKey[0].quotaSpent == 4.5 && byKey[0].tokensIn == 30 && byKey[0].errors == 0)
        #expect(byKey[1].requests == 1 && byKey[1].errors == 1)
        let byModel = try await ledger.aggregate(tenant: "team-a", by: .model, since: now - 10)
        #expect(byModel.map(\.group) == ["claude-x", "gpt-4o"] && byModel[1].requests == 2)
        let byDay = try await ledger.aggregate(tenant: "team-a", by: .day, since: now - 10)
        #expect(byDay.map(\.group) == ["2026-12-01"])
        #expect(await ledger.spent(since: now - 3600) == ["alice": 3.5, "bob": 0])

        #expect(await ledger.prune(before: now - 90 * 86_400) == 1)
        #expect(try await ledger.aggregate(tenant: "team-a", by: .key, since: 0).map(\.requests) == [2, 1])
        await ledger.shutdown()
    }

    @Test func aLedgerThatCannotOpenDropsEverything() async throws {
        let folder = FileManager.default.temporaryDirectory.path + "/usage-ledger-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // The database's path is a folder.
        try FileManager.default.createDirectory(atPath: folder + "/usage.sqlite", withIntermediateDirectories: true)
        let dropped = Locked(0)
        let ledger = UsageLedger(path: folder + "/usage.sqlite", logger: Logger(label: "test")) { n in dropped.withLock { $0 += n } }
        await ledger.open()
        let writer = Task { await ledger.run() }
        #expect(ledger.enqueue(record("alice", time: 1)))
        #expect(ledger.enqueue(record("alice", time: 2)))
        ledger.close()
        await writer.value
        #expect(dropped.withLock { $0 } == 2)
        await #expect(throws: UsageLedger.LedgerClosed.self) { try await ledger.aggregate(tenant: "t", by: .key, since: 0) }
    }
}
