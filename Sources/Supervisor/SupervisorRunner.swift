import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOPosix
import Shared
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// Runs the supervisor: the fleet, its reconcile ticker, signals, the health server and the
/// control socket — all children of one task group.
struct SupervisorRunner {
    var config: FleetConfig
    var logger: Logger

    struct StartupError: Error, CustomStringConvertible {
        var description: String
    }

    static func workerBinary(for config: FleetConfig) throws -> String {
        let path: String
        if let configured = config.supervisor.workerBinary {
            path = configured
        } else {
            let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            path = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("jetbrains-ai-proxy").path
        }
        guard access(path, X_OK) == 0 else {
            throw StartupError(description: """
                worker binary not found or not executable: \(path)
                Build it with `swift build --product jetbrains-ai-proxy` (it is looked for next to the supervisor), \
                or set supervisor.worker_binary in \(config.path).
                """)
        }
        return path
    }

    func run() async throws {
        let binary = try Self.workerBinary(for: config)
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint, .sighup)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let (jobs, jobQueue) = AsyncStream<@Sendable () async -> Void>.makeStream()
        let fleet = FleetSupervisor(
            config: config, workerBinary: binary, control: UnixHTTPClient(http: http), logger: logger,
            launch: { job in jobQueue.yield(job) }
        )
        let s = config.supervisor
        defer { unlink(s.controlSocket) }
        do {
            try await fleet.start()
        } catch {
            try? await http.shutdown()
            throw StartupError(description: "\(error)")
        }

        let healthServer = HTTPServer(
            configuration: .init(target: .tcp(host: s.listen.host, port: s.listen.port), shutdownTimeout: .seconds(1)),
            responder: HealthResponder(fleet: fleet), logger: logger
        )
        let controlServer = HTTPServer(
            configuration: .init(
                target: .unixSocket(path: s.controlSocket), shutdownTimeout: .seconds(1), connectionFilter: sameUserOnly
            ),
            responder: ControlResponder(fleet: fleet), logger: logger
        )
        let logger = self.logger
        await withDiscardingTaskGroup { group in
            group.addTask {
                do {
                    try await healthServer.run { address in
                        logger.info("health on http://\(address.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "\(s.listen)")/health")
                    }
                } catch {
                    logger.error("health server on \(s.listen) failed: \(error)")
                }
            }
            group.addTask {
                do {
                    try await controlServer.run { _ in logger.info("control socket at \(s.controlSocket)") }
                } catch {
                    logger.error("control socket \(s.controlSocket) failed: \(error)")
                }
            }
            group.addTask {
                // The reconcile loop's clock: reap exited workers, then reconcile, ten times a second.
                while true {
                    await fleet.reaped(reapChildren())
                    await fleet.tick()
                    if await fleet.isDone { break }
                    try? await Task.sleep(for: .milliseconds(100))
                }
                healthServer.beginShutdown()
                controlServer.beginShutdown()
                jobQueue.finish()
            }
            group.addTask {
                for await signal in signals {
                    switch signal {
                    case .sighup:
                        logger.info("SIGHUP: reloading")
                        _ = await fleet.reload()
                    case .sigterm, .sigint:
                        logger.info("\(signal): shutting down")
                        await fleet.beginShutdown()
                    default:
                        break
                    }
                    if await fleet.isDone { break }
                }
            }
            for await job in jobs {
                group.addTask { await job() }
            }
            group.cancelAll()
        }
        await fleet.closeEverything()
        try? await http.shutdown()
        logger.info("supervisor stopped")
    }
}

extension FleetSupervisor {
    /// Shutting down and every worker is gone.
    var isDone: Bool { isShuttingDown && allStopped }
}
