import Foundation
import Shared
import Testing
@testable import WorkerCore

@Suite struct TokenPoolTests {
    static let jwtA = "eyJhbGciOiJIUzI1NiJ9.aaaaaaaaaaaaaaaaaaaa.sig-a"
    static let jwtB = "eyJhbGciOiJIUzI1NiJ9.bbbbbbbbbbbbbbbbbbbb.sig-b"
    static let jwtC = "eyJhbGciOiJIUzI1NiJ9.cccccccccccccccccccc.sig-c"

    static func token(_ name: String, _ jwt: String, priority: Int = 1, weight: Int = 1) -> TokenConfig {
        TokenConfig(name: name, source: .jwt(jwt), priority: priority, weight: weight)
    }

    static let threeTokens = [token("a", jwtA), token("b", jwtB), token("c", jwtC)]

    func makePool(
        _ tokens: [TokenConfig] = Self.threeTokens, strategy: BalanceStrategy = .roundRobin,
        clock: ManualClock = ManualClock(), policy: CooldownPolicy = .init()
    ) -> TokenPool {
        TokenPool(tokens: tokens, strategy: strategy, policy: policy, logger: TestSupport.silentLogger,
                  clock: clock.function, random: ScriptedRandom([0.1, 0.5, 0.9]).function)
    }

    func row(_ pool: TokenPool, _ name: String) throws -> TokenReport {
        try #require(pool.report().first { $0.name == name })
    }

    @Test func roundRobinLeasesRotate() throws {
        let pool = makePool()
        var names: [String] = []
        for _ in 0..<6 {
            let lease = try #require(pool.lease())
            names.append(lease.name)
            pool.complete(lease, outcome: .success)
        }
        #expect(names == ["a", "b", "c", "a", "b", "c"])
    }

    @Test(arguments: BalanceStrategy.allCases)
    func leaseNeverReturnsAnExcludedJWT(strategy: BalanceStrategy) throws {
        let pool = makePool(strategy: strategy)
        for _ in 0..<30 {
            let lease = try #require(pool.lease(excluding: [Self.jwtA, Self.jwtC]))
            #expect(lease.jwt == Self.jwtB)
            pool.complete(lease, outcome: .success)
        }
        #expect(pool.lease(excluding: [Self.jwtA, Self.jwtB, Self.jwtC]) == nil)
    }

    @Test func inFlightCountingViaLeaseAndComplete() throws {
        let pool = makePool()
        let l1 = try #require(pool.lease())
        let l2 = try #require(pool.lease())
        let l3 = try #require(pool.lease())
        let l4 = try #require(pool.lease())
        #expect(pool.inFlight == 4)
        #expect(try row(pool, l1.name).inFlight == 2)  // a was leased twice (a, b, c, a)
        pool.complete(l1, outcome: .success)
        pool.complete(l2, outcome: .cancelled)
        #expect(pool.inFlight == 2)
        pool.complete(l3, outcome: .upstreamFailure("502"))
        pool.complete(l4, outcome: .success)
        #expect(pool.inFlight == 0)
        #expect(pool.report().allSatisfy { $0.inFlight == 0 })
        let a = try row(pool, "a")
        #expect(a.successes == 2)
        #expect(try row(pool, "b").successes == 0)
        #expect(try row(pool, "b").failures == 0)  // cancelled is no failure
        #expect(try row(pool, "c").failures == 1)
    }

    @Test func completingTwiceDoesNotGoNegative() throws {
        let pool = makePool()
        let lease = try #require(pool.lease())
        pool.complete(lease, outcome: .success)
        pool.complete(lease, outcome: .success)
        #expect(pool.inFlight == 0)
    }

    @Test func failureMakesJWTUnusableUntilCooldownPasses() throws {
        let clock = ManualClock()
        let pool = makePool(clock: clock, policy: CooldownPolicy(upstreamFailureBase: 2, cap: 300))
        let lease = try #require(pool.lease())
        #expect(lease.name == "a")
        pool.complete(lease, outcome: .upstreamFailure("502 bad gateway"), error: "502 bad gateway")
        #expect(pool.usableCount == 2)
        for _ in 0..<20 {
            let l = try #require(pool.lease())
            #expect(l.name != "a")
            pool.complete(l, outcome: .success)
        }
        let a = try row(pool, "a")
        #expect(a.state == .coolingDown)
        #expect(a.until == clock.now.addingTimeInterval(2))
        #expect(a.lastError == "502 bad gateway")
        #expect(a.consecutiveFailures == 1)

        clock.advance(by: 1.5)
        #expect(pool.usableCount == 2)
        clock.advance(by: 0.5)
        #expect(pool.usableCount == 3)
        #expect(try row(pool, "a").state == .healthy)  // half-open: shown as usable again
        var seen: Set<String> = []
        for _ in 0..<6 {
            let l = try #require(pool.lease())
            seen.insert(l.name)
            pool.complete(l, outcome: .success)
        }
        #expect(seen.contains("a"))
        #expect(try row(pool, "a").consecutiveFailures == 0)
    }

    @Test func invalidJWTStaysOutAndNoneUsableGivesNil() throws {
        let clock = ManualClock()
        let pool = makePool([Self.token("only", Self.jwtA)], clock: clock)
        let lease = try #require(pool.lease())
        pool.complete(lease, outcome: .unauthorized)
        #expect(pool.lease() == nil)
        clock.advance(by: 365 * 86_400)
        #expect(pool.lease() == nil)
        #expect(try row(pool, "only").state == .invalid)
    }

    @Test func leastBusyPoolAvoidsBusyJWT() throws {
        let pool = makePool(strategy: .leastBusy)
        let first = try #require(pool.lease())
        let second = try #require(pool.lease())
        let third = try #require(pool.lease())
        #expect(Set([first.name, second.name, third.name]) == ["a", "b", "c"])
        pool.complete(second, outcome: .success)
        #expect(pool.lease()?.name == second.name)
    }

    @Test func priorityTierFallback() throws {
        let clock = ManualClock()
        let pool = makePool([Self.token("primary", Self.jwtA, priority: 1), Self.token("backup", Self.jwtB, priority: 2)], clock: clock)
        for _ in 0..<5 {
            let l = try #require(pool.lease())
            #expect(l.name == "primary")
            pool.complete(l, outcome: .success)
        }
        let l = try #require(pool.lease())
        pool.complete(l, outcome: .forbidden)
        #expect(pool.lease()?.name == "backup")
        #expect(pool.lease(excluding: [Self.jwtB]) == nil)
    }

    @Test func updateKeepsStateOfStayingJWTsAndDropsRemovedOnes() throws {
        let clock = ManualClock()
        let pool = makePool(clock: clock)
        // a: one success; b: failing (cooling down); c: leased and still in flight.
        let la = try #require(pool.lease())
        pool.complete(la, outcome: .success)
        let lb = try #require(pool.lease())
        pool.complete(lb, outcome: .upstreamFailure("timeout"))
        let lc = try #require(pool.lease())
        #expect([la.name, lb.name, lc.name] == ["a", "b", "c"])

        let jwtD = "eyJhbGciOiJIUzI1NiJ9.dddddddddddddddddddd.sig-d"
        pool.update(
            tokens: [Self.token("b-renamed", Self.jwtB, weight: 3), Self.token("c", Self.jwtC), Self.token("d", jwtD)],
            strategy: .leastBusy)
        #expect(pool.strategy == .leastBusy)
        #expect(pool.count == 3)
        let report = pool.report()
        #expect(report.map(\.name) == ["b-renamed", "c", "d"])
        let b = try row(pool, "b-renamed")
        #expect(b.state == .coolingDown)
        #expect(b.failures == 1)
        #expect(b.weight == 3)  // new config applied
        let c = try row(pool, "c")
        #expect(c.inFlight == 1)
        let d = try row(pool, "d")
        #expect(d.state == .healthy)
        #expect(d.successes == 0 && d.failures == 0)
        // a is gone: never leased again, and completing its old lease is harmless.
        pool.complete(la, outcome: .success)
        for _ in 0..<10 {
            let l = try #require(pool.lease())
            #expect(l.jwt != Self.jwtA)
            pool.complete(l, outcome: .cancelled)
        }
        pool.complete(lc, outcome: .success)
        #expect(try row(pool, "c").successes == 1)
        #expect(pool.inFlight == 0)
    }

    @Test func reportShowsFingerprintsNotJWTs() throws {
        let pool = makePool()
        let l = try #require(pool.lease())
        pool.complete(l, outcome: .upstreamFailure("x"))
        let report = pool.report()
        #expect(report.map(\.fingerprint) == [fingerprint(Self.jwtA), fingerprint(Self.jwtB), fingerprint(Self.jwtC)])
        #expect(report.allSatisfy { $0.fingerprint.contains("...#") && $0.source == "jwt" })
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let text = String(decoding: try encoder.encode(report), as: UTF8.self)
        for jwt in [Self.jwtA, Self.jwtB, Self.jwtC] {
            #expect(!text.contains(jwt))
            #expect(!text.contains(String(jwt.suffix(20))))
        }
        #expect(text.contains("\"in_flight\""))
        #expect(text.contains("\"consecutive_failures\""))
    }

    @Test func reportCarriesMetadataPriorityWeight() throws {
        let config = TokenConfig(name: "m", source: .jwt(Self.jwtA), priority: 2, weight: 5, metadata: ["region": "eu"])
        let pool = makePool([config])
        let r = try row(pool, "m")
        #expect(r.priority == 2 && r.weight == 5 && r.metadata == ["region": "eu"])
    }

    @Test func licenseRecordsHaveNoJWTUntilInstall() throws {
        let source = TokenSource.license(id: "LIC-123", authorization: "secret-authorization-value")
        let pool = makePool([TokenConfig(name: "lic", source: source)])
        #expect(pool.lease() == nil)
        #expect(pool.usableCount == 0)
        var r = try row(pool, "lic")
        #expect(r.state == .pending)
        #expect(r.source == "license")
        #expect(!r.fingerprint.contains("secret"))
        let record = try #require(pool.snapshot().first)
        #expect(record.jwt == nil)
        #expect(record.isLicense)

        pool.install(jwt: Self.jwtC, for: TokenKey(source))
        let lease = try #require(pool.lease())
        #expect(lease.jwt == Self.jwtC)
        #expect(lease.isLicense)
        r = try row(pool, "lic")
        #expect(r.state == .healthy)
        #expect(r.fingerprint == fingerprint(Self.jwtC))
    }

    @Test func installResetsInvalidLicenseJWT() throws {
        let source = TokenSource.license(id: "L", authorization: "auth")
        let pool = makePool([TokenConfig(name: "lic", source: source)])
        pool.install(jwt: Self.jwtA, for: TokenKey(source))
        let lease = try #require(pool.lease())
        pool.complete(lease, outcome: .unauthorized)
        #expect(pool.lease() == nil)
        pool.install(jwt: Self.jwtB, for: TokenKey(source))
        #expect(pool.lease()?.jwt == Self.jwtB)
    }

    @Test func outcomeForAReplacedJWTIsIgnoredButReleasesTheLease() throws {
        let source = TokenSource.license(id: "L", authorization: "auth")
        let pool = makePool([TokenConfig(name: "lic", source: source)])
        pool.install(jwt: Self.jwtA, for: TokenKey(source))
        let old = try #require(pool.lease())
        pool.install(jwt: Self.jwtB, for: TokenKey(source))
        pool.complete(old, outcome: .unauthorized)
        #expect(pool.inFlight == 0)
        #expect(try row(pool, "lic").state == .healthy)
    }

    @Test func observeFeedsProbeOutcomesWithoutLease() throws {
        let clock = ManualClock()
        let pool = makePool([Self.token("a", Self.jwtA)], clock: clock)
        let key = TokenKey(.jwt(Self.jwtA))
        pool.observe(key: key, jwt: Self.jwtA, outcome: .quotaExhausted(until: nil))
        #expect(pool.lease() == nil)
        let quota = QuotaReport(spent: nil, current: "5", maximum: "100", until: nil)
        pool.observe(key: key, jwt: Self.jwtA, outcome: .probeHealthy, quota: quota)
        #expect(try row(pool, "a").quota == QuotaReport(current: "5", maximum: "100"))
        #expect(try row(pool, "a").state == .healthy)
        #expect(pool.inFlight == 0)
        #expect(pool.lease() != nil)
    }
}

@Suite struct SessionAffinityTests {
    @Test func aSessionStaysOnItsJWTWhileItIsUsable() {
        let clock = ManualClock()
        let pool = TokenPool(
            tokens: [.init(name: "a", source: .jwt("jwt-a")), .init(name: "b", source: .jwt("jwt-b"))],
            strategy: .roundRobin, logger: TestSupport.silentLogger, clock: clock.function
        )
        let first = pool.lease(session: "s1")!
        pool.complete(first, outcome: .success)
        for _ in 0..<5 {
            let again = pool.lease(session: "s1")!
            #expect(again.jwt == first.jwt)
            pool.complete(again, outcome: .success)
        }
        // The JWT cools down: the session moves, and stays on its new JWT.
        let failing = pool.lease(session: "s1")!
        pool.complete(failing, outcome: .upstreamFailure("HTTP 500"))
        let moved = pool.lease(session: "s1")!
        #expect(moved.jwt != first.jwt)
        pool.complete(moved, outcome: .success)
        #expect(pool.lease(session: "s1")?.jwt == moved.jwt)
        // Excluded (failover within one request) wins over affinity.
        #expect(pool.lease(excluding: [moved.jwt], session: "s1")?.jwt == nil)
    }
}
