import Foundation
import Shared
import Testing
@testable import SupervisorCore

/// Drives a `FleetReconciler` the way the runtime does, with a clock moved by hand: it answers
/// the synchronous actions (bind, spawn) at once, like the runtime, and leaves the rest
/// (heartbeats, pause, drain, exits) to the test.
struct FleetDriver {
    var reconciler: FleetReconciler
    var now = ContinuousClock.now
    private var nextPID: Int32 = 1000
    private var nextPort = 40000
    /// Spawns fail while set (posix_spawn errors).
    var spawnFailure: String?
    /// Binds of these tenants fail.
    var portsInUse: Set<String> = []
    /// Every action since the driver was made, in order.
    private(set) var log: [FleetAction] = []

    init(_ config: FleetConfig, seed: UInt64 = 42) {
        reconciler = FleetReconciler(settings: config.supervisor, configPath: config.path, seed: seed)
    }

    /// Sends `event`, answers binds and spawns like the runtime, returns every action.
    @discardableResult
    mutating func send(_ event: FleetEvent) -> [FleetAction] {
        var queue = [event]
        var all: [FleetAction] = []
        while !queue.isEmpty {
            let actions = reconciler.handle(queue.removeFirst(), now: now)
            all += actions
            for action in actions {
                switch action {
                case .bind(let requests):
                    let failing = requests.filter { portsInUse.contains($0.tenant) }
                    if failing.isEmpty {
                        var bound: [ListenerID: ListenAddress] = [:]
                        for r in requests {
                            var address = r.address
                            if address.port == 0 {
                                nextPort += 1
                                address.port = nextPort
                            }
                            bound[r.listener] = address
                        }
                        queue.append(.bound(.success(bound)))
                    } else {
                        queue.append(.bound(.failure(BindFailure(messages: failing.map { "tenants.\($0.tenant).listen: address already in use" }))))
                    }
                case .spawn(let order):
                    if let spawnFailure {
                        queue.append(.spawnFailed(order.worker, reason: spawnFailure))
                    } else {
                        nextPID += 1
                        queue.append(.spawned(order.worker, pid: nextPID))
                    }
                default:
                    break
                }
            }
        }
        log += all
        return all
    }

    /// Lets `duration` pass, then ticks.
    @discardableResult
    mutating func advance(_ duration: Duration) -> [FleetAction] {
        now += duration
        return send(.tick)
    }

    /// Ticks in small steps until `duration` has passed, answering every heartbeat of the
    /// workers in `answering` (the others stay silent); returns every action.
    @discardableResult
    mutating func run(for duration: Duration, step: Duration = .milliseconds(100), answering: Set<String>? = nil) -> [FleetAction] {
        let end = now + duration
        var all: [FleetAction] = []
        while now < end {
            let actions = advance(step)
            all += actions
            for case .probe(let id, _) in actions where answering?.contains(id.tenant) ?? true {
                all += send(.heartbeat(id, healthy(id.tenant)))
            }
        }
        return all
    }

    /// Answers the pending probes of `tenant`'s workers with `report` (healthy by default).
    @discardableResult
    mutating func answerHeartbeats(of tenant: String, with report: WorkerHealth? = nil) -> [FleetAction] {
        var all: [FleetAction] = []
        for worker in slot(tenant)?.workers ?? [] where worker.probeInFlight {
            all += send(.heartbeat(worker.id, report ?? healthy(tenant)))
        }
        return all
    }

    /// Crashes `tenant`'s worker twice: the first crash after a healthy run restarts at once,
    /// the restarted worker crashes before it answers, so the slot backs off.
    @discardableResult
    mutating func crashIntoBackoff(_ tenant: String, _ exit: WorkerExit = .code(1)) throws -> [FleetAction] {
        var all = send(.exited(try #require(current(tenant)?.id), exit))
        all += send(.exited(try #require(current(tenant)?.id), exit))
        return all
    }

    /// Crashes `tenant`'s worker `count` times, each after `upFor` of answered heartbeats (or at
    /// once, before it answers); returns the back-off each crash got (zero: restarted at once),
    /// letting each pass.
    mutating func crashRepeatedly(_ tenant: String, times count: Int, upFor: Duration? = nil) throws -> [Duration] {
        var delays: [Duration] = []
        for _ in 0..<count {
            if let upFor {
                answerHeartbeats(of: tenant)
                run(for: upFor)
            }
            send(.exited(try #require(current(tenant)?.id), .code(1)))
            let until = slot(tenant)?.backoffUntil
            delays.append(until.map { $0 - now } ?? .zero)
            if let until { now = until }
            send(.tick)
        }
        return delays
    }

    /// Starts the fleet and brings every tenant to running.
    @discardableResult
    mutating func startRunning(_ config: FleetConfig) -> [FleetAction] {
        var all = send(.desired(config))
        for tenant in config.tenants { all += answerHeartbeats(of: tenant.name) }
        return all
    }

    func slot(_ tenant: String) -> Slot? { reconciler.slots[tenant] }
    func state(_ tenant: String) -> SlotState? { reconciler.state(of: tenant) }
    func current(_ tenant: String) -> Worker? { slot(tenant)?.current }
    func pid(_ tenant: String) -> Int32? { current(tenant)?.pid }
    func health() -> FleetHealth { reconciler.health(now: now, wallNow: Date(timeIntervalSince1970: 1_700_000_000)) }
}

// MARK: - Building configurations

enum Fixtures {
    static let jwtA = "eyJhbGciOiJIUzI1NiJ9.a-token.sig"
    static let jwtB = "eyJhbGciOiJIUzI1NiJ9.b-token.sig"

    static func tenant(_ name: String, port: Int = 0, strategy: BalanceStrategy = .roundRobin, tokens: [TokenConfig]? = nil) -> TenantConfig {
        TenantConfig(
            name: name, listen: ListenAddress(host: "127.0.0.1", port: port), apiKeys: ["key-\(name)"],
            tokens: tokens ?? [TokenConfig(name: "primary", source: .jwt(jwtA)), TokenConfig(name: "backup", source: .jwt(jwtB))],
            strategy: strategy, shutdownTimeout: .seconds(5)
        )
    }

    static func config(
        _ tenants: [TenantConfig],
        restart: RestartPolicy = RestartPolicy(initialBackoff: .milliseconds(250), maxBackoff: .seconds(4), maxRestarts: 3, window: .seconds(60)),
        heartbeatInterval: Duration = .seconds(1),
        heartbeatTimeout: Duration = .seconds(5)
    ) -> FleetConfig {
        FleetConfig(
            supervisor: SupervisorSettings(
                controlSocket: "/srv/run/supervisor.sock", runDir: "/srv/run", logDir: "/srv/logs", restart: restart,
                heartbeatInterval: heartbeatInterval, heartbeatTimeout: heartbeatTimeout, shutdownTimeout: .seconds(5)
            ),
            tenants: tenants,
            path: "/srv/fleet.yaml"
        )
    }
}

/// A worker's answer with every JWT of `tenant` healthy (or in the given states).
func healthy(_ tenant: String, states: [String: TokenState] = [:]) -> WorkerHealth {
    let tokens = ["primary", "backup"].map { name in
        TokenReport(name: name, fingerprint: "fp-\(name)", state: states[name] ?? .healthy)
    }
    return WorkerHealth(tenant: tenant, strategy: "round_robin", tokens: tokens)
}

// MARK: - Reading actions

extension Array where Element == FleetAction {
    var spawns: [SpawnOrder] { compactMap { if case .spawn(let o) = $0 { return o } else { return nil } } }
    var binds: [[ListenRequest]] { compactMap { if case .bind(let r) = $0 { return r } else { return nil } } }
    var kills: [WorkerID] { compactMap { if case .kill(let id) = $0 { return id } else { return nil } } }
    var drains: [WorkerID] { compactMap { if case .drain(let id) = $0 { return id } else { return nil } } }
    var pauses: [WorkerID] { compactMap { if case .pause(let id) = $0 { return id } else { return nil } } }
    var resumes: [WorkerID] { compactMap { if case .resume(let id) = $0 { return id } else { return nil } } }
    var probes: [WorkerID] { compactMap { if case .probe(let id, _) = $0 { return id } else { return nil } } }
    var closedListeners: [ListenerID] { compactMap { if case .closeListener(let id) = $0 { return id } else { return nil } } }
    var closedLogs: [String] { compactMap { if case .closeLog(let t) = $0 { return t } else { return nil } } }
    var records: [FleetRecord] { compactMap { if case .record(let r) = $0 { return r } else { return nil } } }
    var reloadReports: [ReloadReport] { compactMap { if case .reply(.reload(let r)) = $0 { return r } else { return nil } } }
    var commandReplies: [ControlReply] { compactMap { if case .reply(.command(let r)) = $0 { return r } else { return nil } } }
    var history: [FleetHistoryEvent] { compactMap { if case .history(let e) = $0 { return e } else { return nil } } }
    var finished: Bool { contains(.finished) }

    /// Whether anything in the list touches a worker or a socket (records and replies do not).
    var hasEffects: Bool {
        contains {
            switch $0 {
            case .record, .reply, .history: return false
            default: return true
            }
        }
    }

    func recorded(_ text: String) -> Bool { records.contains { $0.message.contains(text) } }
}
