import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Shared
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs the supervisor as one `ServiceGroup`: the health server, the control socket, the fleet
/// runtime and the SIGHUP reloader. SIGTERM/SIGINT shut the group down in reverse order: the
/// fleet drains every worker first, while health and the control socket still answer.
struct SupervisorRunner {
    var config: FleetConfig
    var logger: Logger

    static func workerBinary(for config: FleetConfig) throws -> String {
        let path: String
        if let configured = config.supervisor.workerBinary {
            path = configured
        } else {
            let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            path = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("jetbrains-ai-proxy").path
        }
        guard access(path, X_OK) == 0 else {
            throw FleetRuntime.StartupError(description: """
                worker binary not found or not executable: \(path)
                Build it with `swift build --product jetbrains-ai-proxy` (it is looked for next to the supervisor), \
                or set supervisor.worker_binary in \(config.path).
                """)
        }
        return path
    }

    func run() async throws {
        let binary = try Self.workerBinary(for: config)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let fleet = FleetRuntime(config: config, workerBinary: binary, control: UnixHTTPClient(http: http), logger: logger)
        let s = config.supervisor
        defer { unlink(s.controlSocket) }
        do {
            try await fleet.start()
        } catch {
            await fleet.closeEverything()
            try? await http.shutdown()
            throw FleetRuntime.StartupError(description: "\(error)")
        }

        let logger = self.logger
        // Under systemd (Type=notify): READY=1 once health and the control socket are bound.
        let systemd = SystemdNotifyEnvironment.takeFromProcess()
        let ready = ReadyGate(count: 2)
        let health = HTTPServer(
            configuration: .init(target: .tcp(host: s.listen.host, port: s.listen.port), shutdownTimeout: .seconds(1), limits: s.limits),
            responder: healthRoutes(fleet), logger: logger
        )
        let control = HTTPServer(
            configuration: .init(
                target: .unixSocket(path: s.controlSocket), shutdownTimeout: .seconds(1), limits: .controlSocket,
                connectionFilter: sameUserOnly
            ),
            responder: controlRoutes(fleet), logger: logger
        )
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: LoggingServer(server: health, logger: logger, ready: ready) { address in
                    "health on http://\(address.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "\(s.listen)")/health"
                }),
                .init(service: LoggingServer(server: control, logger: logger, ready: ready) { _ in "control socket at \(s.controlSocket)" }),
                .init(service: ReloadOnHangup(fleet: fleet, logger: logger)),
                // Last, so it is the first to shut down; when every worker is gone, the rest follow.
                .init(service: fleet, successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            logger: logger
        )
        if let socket = systemd.socket {
            configuration.services.append(.init(service: SystemdNotifier(
                socket: socket, watchdogInterval: systemd.watchdogInterval, ready: ready,
                status: "serving \(config.tenants.count) tenant(s)")))
        }
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        do {
            try await ServiceGroup(configuration: configuration).run()
        } catch {
            logger.error("supervisor stopped with an error: \(error)")
        }
        await fleet.closeEverything()
        try? await http.shutdown()
        logger.info("supervisor stopped")
    }
}

/// An `HTTPServer` that logs where it listens once bound, and logs (instead of failing the
/// group) if it cannot bind: the fleet keeps running without it.
private struct LoggingServer: Service {
    let server: HTTPServer
    let logger: Logger
    /// Signalled once bound (or failed: the supervisor serves without it).
    var ready: ReadyGate?
    let bound: @Sendable (SocketAddress?) -> String

    func run() async throws {
        do {
            try await server.run { address in
                logger.info("\(bound(address))")
                ready?.signal()
            }
        } catch {
            ready?.signal()
            logger.error("\(server.configuration.target) failed: \(error)")
            try? await gracefulShutdown()
        }
    }
}

/// SIGHUP reloads the fleet file.
private struct ReloadOnHangup: Service {
    let fleet: FleetRuntime
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                logger.info("SIGHUP: reloading")
                _ = await fleet.reload()
            }
        }
    }
}
