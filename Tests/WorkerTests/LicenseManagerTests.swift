import Foundation
import Shared
import Synchronization
import Testing
@testable import WorkerCore

/// A JetBrains Account and license endpoint in memory, playing rotation like the real one:
/// a rotated-out refresh token is dead (`invalid_grant`).
final class FakeCredentialUpstream: CredentialUpstream {
    struct State {
        var liveRefreshTokens: Set<String>
        var liveIDTokens: Set<String> = []
        var rotate = true
        var expiresIn: TimeInterval? = 3600
        var exchanges: [String] = []
        var licenseCalls: [(id: String, bearer: String)] = []
        var serial = 0
        /// The license endpoint's answer when the bearer is live.
        var jwtTTL: TimeInterval = 86400
        var now: @Sendable () -> Date = { Date() }
        /// Suspension points inside an exchange, so concurrent callers overlap it.
        var yields = 0
    }

    let state: Mutex<State>

    init(refreshTokens: Set<String>, rotate: Bool = true, now: @escaping @Sendable () -> Date = { Date() }) {
        var s = State(liveRefreshTokens: refreshTokens)
        s.rotate = rotate
        s.now = now
        state = Mutex(s)
    }

    var exchanges: [String] { state.withLock { $0.exchanges } }
    var licenseBearers: [String] { state.withLock { $0.licenseCalls.map(\.bearer) } }
    var liveRefreshTokens: Set<String> { state.withLock { $0.liveRefreshTokens } }

    func revokeIDTokens() { state.withLock { $0.liveIDTokens.removeAll() } }

    func exchangeRefreshToken(_ refreshToken: String) async throws -> OAuthTokenAnswer {
        for _ in 0..<state.withLock({ $0.yields }) { await Task.yield() }
        return try state.withLock { s in
            s.exchanges.append(refreshToken)
            guard s.liveRefreshTokens.contains(refreshToken) else {
                throw OAuthError(status: 400, code: "invalid_grant", description: "OAuth token endpoint answered 400 invalid_grant")
            }
            s.serial += 1
            let idToken = "id-token-\(s.serial)"
            s.liveIDTokens.insert(idToken)
            var rotated: String?
            if s.rotate {
                rotated = "rt-rotated-\(s.serial)"
                s.liveRefreshTokens.remove(refreshToken)
                s.liveRefreshTokens.insert(rotated!)
            }
            return OAuthTokenAnswer(idToken: idToken, expiresIn: s.expiresIn, refreshToken: rotated)
        }
    }

    func licenseJWT(licenseID: String, authorization: String) async throws -> String {
        try state.withLock { s in
            s.licenseCalls.append((licenseID, authorization))
            guard s.liveIDTokens.contains(authorization) else {
                throw LicenseError(status: 401, description: "license endpoint answered 401")
            }
            s.serial += 1
            return makeJWT(exp: s.now().addingTimeInterval(s.jwtTTL), serial: s.serial)
        }
    }
}

/// A three-part JWT whose payload carries `exp`.
func makeJWT(exp: Date, serial: Int) -> String {
    let payload = #"{"exp":\#(Int(exp.timeIntervalSince1970)),"n":\#(serial)}"#
    let b64 = Data(payload.utf8).base64EncodedString()
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
    return "eyJhbGciOiJIUzI1NiJ9.\(b64).sig"
}

@Suite struct LicenseManagerTests {
    static let configured = "rt-configured-0123456789"
    static let source = TokenSource.licenseRefresh(id: "LIC-1", refreshToken: configured)
    static let key = TokenKey(source)

    // MARK: - Renewal times

    @Test func idTokenIsRenewedTwoMinutesBeforeItExpires() {
        let clock = ManualClock()
        let obtained = clock.now
        let due = LicenseManager.idTokenRenewalDue(obtainedAt: obtained, expiresAt: obtained.addingTimeInterval(3600))
        #expect(due == obtained.addingTimeInterval(3480))
        clock.advance(by: 3479)
        #expect(due > clock.now)
        clock.advance(by: 1)
        #expect(due <= clock.now)
    }

    @Test func shortLivedIDTokenIsRenewedAtFourFifths() {
        let obtained = ManualClock().now
        #expect(LicenseManager.idTokenRenewalDue(obtainedAt: obtained, expiresAt: obtained.addingTimeInterval(60))
            == obtained.addingTimeInterval(48))
        #expect(LicenseManager.idTokenRenewalDue(obtainedAt: obtained, expiresAt: obtained.addingTimeInterval(600))
            == obtained.addingTimeInterval(480))
        #expect(LicenseManager.idTokenRenewalDue(obtainedAt: obtained, expiresAt: obtained)
            == obtained)
    }

    @Test func jwtIsRenewedAtFourFifthsOfItsLifetime() {
        let issued = ManualClock().now
        // A day-long JWT: an hour before exp (the cap), however late the refresher looks.
        #expect(LicenseManager.jwtRenewalDue(issuedAt: issued, expiry: issued.addingTimeInterval(86400))
            == issued.addingTimeInterval(82800))
        #expect(LicenseManager.jwtRenewalDue(issuedAt: issued, expiry: issued.addingTimeInterval(3000))
            == issued.addingTimeInterval(2400))
        // Never later than a minute before exp.
        #expect(LicenseManager.jwtRenewalDue(issuedAt: issued, expiry: issued.addingTimeInterval(62))
            == issued.addingTimeInterval(2))
    }

    struct Setup {
        var pool: TokenPool
        var upstream: FakeCredentialUpstream
        var manager: LicenseManager
        var store: CredentialStore
        var clock: ManualClock
        var directory: String
    }

    func setup(
        configured: String = Self.configured, rotate: Bool = true, directory: String? = nil, clock: ManualClock = ManualClock(),
        upstream: FakeCredentialUpstream? = nil
    ) throws -> Setup {
        let dir = try directory ?? TestSupport.makeTemporaryDirectory()
        let source = TokenSource.licenseRefresh(id: "LIC-1", refreshToken: configured)
        let pool = TokenPool(tokens: [TokenConfig(name: "licensed", source: source)], strategy: .roundRobin,
                             logger: TestSupport.silentLogger, clock: clock.function)
        let fake = upstream ?? FakeCredentialUpstream(refreshTokens: [configured], rotate: rotate, now: clock.function)
        let store = CredentialStore(stateDir: dir, tenant: "team-a")
        let manager = LicenseManager(
            pool: pool, upstream: { fake }, credentials: store, clock: clock.function, logger: TestSupport.silentLogger)
        return Setup(pool: pool, upstream: fake, manager: manager, store: store, clock: clock, directory: dir)
    }

    @Test func refreshTokenIsExchangedThenTheLicenseCalledWithTheIDToken() async throws {
        let s = try setup(rotate: false)
        defer { try? FileManager.default.removeItem(atPath: s.directory) }
        #expect(await s.manager.refresh(Self.key))
        #expect(s.upstream.exchanges == [Self.configured])
        #expect(s.upstream.licenseBearers == ["id-token-1"])
        let lease = try #require(s.pool.lease())
        #expect(lease.isLicense)
        #expect(jwtExpiry(lease.jwt) != nil)
        // Nothing rotated, nothing saved.
        #expect(!FileManager.default.fileExists(atPath: s.store.file))
    }

    @Test func rotatedRefreshTokenReplacesTheOldOneAndIsSaved() async throws {
        let s = try setup()
        defer { try? FileManager.default.removeItem(atPath: s.directory) }
        #expect(await s.manager.refresh(Self.key))
        #expect(s.manager.session(Self.key)?.refreshToken == "rt-rotated-1")
        #expect(try s.store.refreshToken(name: "licensed", configured: Self.configured) == "rt-rotated-1")
        #expect(!(try String(contentsOfFile: s.store.file, encoding: .utf8)).contains(Self.configured))

        // The id token is due: the next exchange presents the rotated token, not the dead one.
        s.clock.advance(by: 3500)
        #expect(await s.manager.refresh(Self.key))
        #expect(s.upstream.exchanges == [Self.configured, "rt-rotated-1"])
        #expect(try s.store.refreshToken(name: "licensed", configured: Self.configured) == "rt-rotated-3")
    }

    @Test func aRestartUsesTheSavedRefreshToken() async throws {
        let clock = ManualClock()
        let first = try setup(clock: clock)
        defer { try? FileManager.default.removeItem(atPath: first.directory) }
        #expect(await first.manager.refresh(Self.key))
        #expect(!first.upstream.liveRefreshTokens.contains(Self.configured))

        // A new worker process: same fleet file, same state folder, same account.
        let second = try setup(directory: first.directory, clock: clock, upstream: first.upstream)
        #expect(await second.manager.refresh(Self.key))
        #expect(first.upstream.exchanges == [Self.configured, "rt-rotated-1"])
        #expect(second.pool.lease() != nil)
    }

    @Test func aNewRefreshTokenInTheFileWinsOverTheSavedOne() async throws {
        let clock = ManualClock()
        let first = try setup(clock: clock)
        defer { try? FileManager.default.removeItem(atPath: first.directory) }
        #expect(await first.manager.refresh(Self.key))

        // The user pastes a fresh refresh token into the fleet file and restarts.
        let fresh = "rt-pasted-by-the-user-0123"
        first.upstream.state.withLock { _ = $0.liveRefreshTokens.insert(fresh) }
        let second = try setup(configured: fresh, directory: first.directory, clock: clock, upstream: first.upstream)
        #expect(await second.manager.refresh(TokenKey(.licenseRefresh(id: "LIC-1", refreshToken: fresh))))
        #expect(first.upstream.exchanges.last == fresh)
        #expect(try second.store.refreshToken(name: "licensed", configured: fresh) == "rt-rotated-3")
        #expect(try second.store.refreshToken(name: "licensed", configured: Self.configured) == nil)
    }

    @Test func aFreshIDTokenIsReusedForTheNextJWT() async throws {
        let s = try setup()
        defer { try? FileManager.default.removeItem(atPath: s.directory) }
        #expect(await s.manager.refresh(Self.key))
        s.clock.advance(by: 3000)  // the id token (1 h) is not due yet (58 min)
        #expect(await s.manager.refresh(Self.key))
        #expect(s.upstream.exchanges.count == 1)
        #expect(s.upstream.licenseBearers == ["id-token-1", "id-token-1"])
    }

    @Test func aRefusedIDTokenGetsOneFreshOne() async throws {
        let s = try setup()
        defer { try? FileManager.default.removeItem(atPath: s.directory) }
        #expect(await s.manager.refresh(Self.key))
        // Like a 401 on a chat: the pool asks for one refresh; the id token was revoked meanwhile.
        s.upstream.revokeIDTokens()
        #expect(await s.manager.refresh(Self.key))
        #expect(s.upstream.exchanges == [Self.configured, "rt-rotated-1"])
        #expect(s.upstream.licenseBearers == ["id-token-1", "id-token-1", "id-token-3"])
    }

    @Test func refreshFailsWhenTheRefreshTokenIsDead() async throws {
        let s = try setup(upstream: FakeCredentialUpstream(refreshTokens: []))
        defer { try? FileManager.default.removeItem(atPath: s.directory) }
        #expect(await s.manager.refresh(Self.key) == false)
        #expect(s.pool.lease() == nil)
    }

    @Test func refusedRefreshTokenIsRetriedWithTheOneAnotherWorkerSaved() async throws {
        let clock = ManualClock()
        let old = try setup(clock: clock)
        defer { try? FileManager.default.removeItem(atPath: old.directory) }
        #expect(await old.manager.refresh(Self.key))
        // A second worker of the tenant (its replacement) rotates the token and saves it.
        let replacement = try setup(directory: old.directory, clock: clock, upstream: old.upstream)
        #expect(await replacement.manager.refresh(Self.key))
        // The old worker's token in memory is dead now; it picks up the saved one.
        clock.advance(by: 3500)
        #expect(await old.manager.refresh(Self.key))
        // Presented: the configured one (old), the saved one (replacement), the dead one (old,
        // refused), then the one the replacement saved.
        #expect(old.upstream.exchanges == [Self.configured, "rt-rotated-1", "rt-rotated-1", "rt-rotated-3"])
        #expect(old.manager.session(Self.key)?.refreshToken == "rt-rotated-5")
        #expect(try old.store.refreshToken(name: "licensed", configured: Self.configured) == "rt-rotated-5")
    }

    @Test func concurrentRefreshesShareOneExchange() async throws {
        let s = try setup()
        defer { try? FileManager.default.removeItem(atPath: s.directory) }
        s.upstream.state.withLock { $0.yields = 50 }
        let record = try #require(s.pool.snapshot().first)
        let tokens = await withTaskGroup(of: String?.self) { group in
            for _ in 0..<8 { group.addTask { try? await s.manager.idToken(for: record, rejected: nil) } }
            var all: [String?] = []
            for await t in group { all.append(t) }
            return all
        }
        #expect(Set(tokens) == ["id-token-1"])
        #expect(s.upstream.exchanges == [Self.configured])
    }

    @Test func nextDueReportsTheIDTokenRenewal() async throws {
        let s = try setup()
        defer { try? FileManager.default.removeItem(atPath: s.directory) }
        let pending = try #require(s.pool.snapshot().first)
        #expect(s.manager.nextDue(for: pending, now: s.clock.now)?.jwt == s.clock.now)
        let start = s.clock.now
        #expect(await s.manager.refresh(Self.key))
        let record = try #require(s.pool.snapshot().first)
        let due = try #require(s.manager.nextDue(for: record, now: s.clock.now))
        #expect(due.idToken == start.addingTimeInterval(3480))
        #expect(due.jwt == start.addingTimeInterval(82800))
    }

    @Test func idTokenWithoutExpiresInIsTakenToLiveAnHour() async throws {
        let s = try setup()
        defer { try? FileManager.default.removeItem(atPath: s.directory) }
        s.upstream.state.withLock { $0.expiresIn = nil }
        let start = s.clock.now
        #expect(await s.manager.refresh(Self.key))
        #expect(s.manager.session(Self.key)?.expiresAt == start.addingTimeInterval(3600))
    }

    @Test func authorizationLicensesStillUseTheConfiguredIDToken() async throws {
        let clock = ManualClock()
        let fake = FakeCredentialUpstream(refreshTokens: [], now: clock.function)
        fake.state.withLock { _ = $0.liveIDTokens.insert("pasted-id-token") }
        let source = TokenSource.license(id: "LIC-2", authorization: "pasted-id-token")
        let pool = TokenPool(tokens: [TokenConfig(name: "old-style", source: source)], strategy: .roundRobin,
                             logger: TestSupport.silentLogger, clock: clock.function)
        let manager = LicenseManager(pool: pool, upstream: { fake }, clock: clock.function, logger: TestSupport.silentLogger)
        #expect(await manager.refresh(TokenKey(source)))
        #expect(fake.exchanges.isEmpty)
        #expect(fake.licenseBearers == ["pasted-id-token"])
    }
}
