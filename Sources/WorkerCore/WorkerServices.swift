import Logging
import ServiceLifecycle
import UnixSignals

/// A supervised worker's stdin is the supervisor's pipe: its end means the supervisor is gone
/// (even SIGKILLed), and the worker drains and exits rather than live on as an orphan.
struct ParentWatch: Service {
    let logger: Logger
    let shutdown: @Sendable () -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown {
            if await SupervisedInput.waitForEndOfInput() {
                logger.warning("supervisor is gone (stdin closed): shutting down")
                shutdown()
                // Stay until the group reaches us: a service that returns while the group
                // shuts down fails it (whatever its termination behaviour), cutting the drain short.
                try? await gracefulShutdown()
            }
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
