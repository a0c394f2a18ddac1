import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Shared
import Synchronization

/// Starts the servers and background work of one worker and runs them until shutdown.
struct WorkerMain {
    var source: ConfigSource
    var settings: TenantConfig
    var controlSocket: String?
    /// Supervised: stdin is a pipe from the supervisor; its end means the supervisor is gone.
    var exitWhenStdinCloses = false
    var logger: Logger

    /// systemd's socket activation: `LISTEN_PID` is us and `LISTEN_FDS` ≥ 1 → serve fd 3.
    static func inheritedListener(environment: [String: String] = ProcessInfo.processInfo.environment) -> CInt? {
        guard let pid = environment["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
              let count = environment["LISTEN_FDS"].flatMap(Int.init), count >= 1
        else { return nil }
        // Children must not think the socket is theirs.
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        return 3
    }

    /// A supervised start that waits for `POST /resume` before accepting.
    var startPaused: Bool {
        if case .supervised(let start) = source { return start.startPaused }
        return false
    }

    func run() async throws {
        let runtime = WorkerRuntime(source: source, settings: settings, logger: logger)
        if case .supervised(let start) = source, !start.tokenStates.isEmpty {
            runtime.pool.restore(start.tokenStates)
        }
        // Before serving: `daily_quota` starts from what the ledger has for today.
        await runtime.usage.open()
        logger.info("JWT balancer initialized with \(settings.tokens.count) tokens, strategy: \(settings.strategy.rawValue)")

        // License JWTs are fetched before serving, so the first requests find them.
        await withTaskGroup(of: Void.self) { group in
            for record in runtime.pool.snapshot() where record.isLicense {
                group.addTask { await runtime.licenses.refresh(record.key) }
            }
        }

        let target: BindTarget
        if let fd = Self.inheritedListener() {
            target = .inherited(fd: fd)
        } else {
            target = .tcp(host: settings.listen.host, port: settings.listen.port)
        }
        let serving = Locked<HTTPServer?>(nil)
        let server = HTTPServer(
            configuration: .init(
                target: target, maxBodySize: settings.maxBodySize, shutdownTimeout: settings.shutdownTimeout,
                limits: settings.limits,
                // Reads (health, models, metrics) are cheap and never refused; API calls are.
                admission: RequestAdmission(limit: settings.maxConcurrentRequests) { $0.method != .GET && $0.method != .HEAD }
            ),
            responder: ProxyResponder(runtime: runtime, isDraining: { serving.withLock { $0?.isDraining ?? false } }),
            logger: logger
        )
        // Started paused (the supervisor answers the listener meanwhile): the public server
        // takes no connection before the control socket's `POST /resume`.
        let gate = StartGate(open: !startPaused)
        serving.withLock { $0 = server }
        let group = Mutex<ServiceGroup?>(nil)
        let triggerShutdown: @Sendable () -> Void = {
            gate.open()
            server.beginShutdown()
            if let g = group.withLock({ $0 }) {
                Task { await g.triggerGracefulShutdown() }
            }
        }
        let logger = self.logger
        let publicServer = ServerService(server: server, gate: gate) { address in
            // NIO re-listens an inherited socket with a backlog of 128, which would shrink the
            // supervisor's queue for the connections that wait while a worker restarts.
            if case .inherited(let fd) = target { _ = listen(fd, server.configuration.backlog) }
            let shown = address.map { Self.describe($0) } ?? target.description
            logger.info("Server starting on \(shown)")
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let ledger = runtime.usage.ledger {
            // First, so it stops last: what the public server drains is still recorded.
            services.append(.init(service: UsageLedgerService(
                ledger: ledger, retention: { runtime.settings.usageRetention }, now: runtime.usage.now
            ), serviceName: "usage-ledger"))
        }
        services += [
            // Named: without a name ServiceLifecycle describes each service by reflection,
            // which cost a few ms of start-up (first-time protocol-conformance scans).
            .init(service: runtime.prober, serviceName: "prober"),
            .init(service: runtime.licenses, serviceName: "licenses"),
            .init(service: runtime.profileRefresher, serviceName: "profiles"),
            .init(service: ReloadOnHangup(runtime: runtime), serviceName: "sighup"),
        ]
        if let controlSocket {
            let path = ConfigPaths.absolute(controlSocket)
            // Only a stale socket may be replaced: not a file, not another worker's live socket.
            try UnixSocketFile.clear(path, what: "control socket")
            let control = HTTPServer(
                configuration: .init(
                    target: .unixSocket(path: path), maxBodySize: 1 << 20, shutdownTimeout: .seconds(2), limits: .controlSocket,
                    // Same check as the supervisor's control socket: only our uid (or root).
                    connectionFilter: sameUserOnly
                ),
                responder: ControlResponder(
                    runtime: runtime,
                    inFlight: { server.requestsInFlight },
                    isDraining: { server.isDraining },
                    drain: triggerShutdown,
                    pause: { await server.pauseAccepting() },
                    resume: {
                        gate.open()
                        await server.resumeAccepting()
                    },
                    listen: { server.localAddress.map { Self.describe($0) } ?? target.description }
                ),
                logger: logger
            )
            let controlServer = ServerService(server: control) { _ in
                logger.info("Control socket listening on \(path)")
            }
            services.append(.init(service: controlServer, serviceName: "control-socket"))
        }
        if exitWhenStdinCloses {
            services.append(.init(service: ParentWatch(logger: logger, shutdown: triggerShutdown), serviceName: "parent-watch"))
        }
        // The public server drains first on shutdown (services stop in reverse order), while the
        // control socket keeps answering the supervisor.
        services.append(.init(service: publicServer, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "public-server"))
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        let serviceGroup = ServiceGroup(configuration: configuration)
        group.withLock { $0 = serviceGroup }
        defer {
            if let path = controlSocket.map(ConfigPaths.absolute) { UnixSocketFile.removeIfSocket(path) }
        }
        var failure: (any Error)?
        do {
            try await serviceGroup.run()
        } catch {
            logger.error("stopped with an error: \(error)")
            failure = error
        }
        // Whatever happened above, the HTTP clients must be shut down before they go away.
        await runtime.shutdownClients()
        logger.info("Shutdown complete")
        // A worker that could not serve (a socket it could not bind…) must not exit 0: the
        // supervisor and systemd read that as a clean stop.
        if let failure { throw WorkerFailure(cause: failure) }
    }

    struct WorkerFailure: Error, CustomStringConvertible {
        var cause: any Error
        var description: String { "stopped with an error: \(cause)" }
    }

    static func describe(_ address: SocketAddress) -> String {
        switch address {
        case .v4: return "\(address.ipAddress ?? "0.0.0.0"):\(address.port ?? 0)"
        case .v6: return "[\(address.ipAddress ?? "::")]:\(address.port ?? 0)"
        case .unixDomainSocket: return address.pathname ?? "unix"
        }
    }
}

/// An `HTTPServer` as a service, reporting its bound address once. With a `gate`, it starts
/// serving once the gate opens (or the group shuts down).
struct ServerService: Service {
    let server: HTTPServer
    var gate: StartGate?
    let onBound: @Sendable (SocketAddress?) -> Void

    init(server: HTTPServer, gate: StartGate? = nil, onBound: @escaping @Sendable (SocketAddress?) -> Void) {
        self.server = server
        self.gate = gate
        self.onBound = onBound
    }

    func run() async throws {
        if let gate {
            await withGracefulShutdownHandler {
                await gate.wait()
            } onGracefulShutdown: {
                gate.open()
            }
        }
        try await server.run(onBound: onBound)
    }
}

/// Opens once; `wait()` returns when it is open.
final class StartGate: Sendable {
    private let state: Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>

    init(open: Bool) {
        state = Mutex((open, []))
    }

    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = state.withLock { s -> Bool in
                if !s.open { s.waiters.append(continuation) }
                return s.open
            }
            if isOpen { continuation.resume() }
        }
    }
}
