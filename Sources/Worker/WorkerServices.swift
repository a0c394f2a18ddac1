import Logging
import ServiceLifecycle
import UnixSignals

/// Runs a closure as a service that simply stops on graceful shutdown (probe, license refresh).
struct BackgroundService: Service {
    let name: String
    let body: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await body()
        }
    }
}

/// Reloads the configuration on SIGHUP.
struct ReloadOnHangup: Service {
    let runtime: WorkerRuntime

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                do {
                    _ = try await runtime.reload()
                } catch {
                    runtime.logger.error("reload failed, keeping the running configuration: \(error)")
                }
            }
        }
    }
}
