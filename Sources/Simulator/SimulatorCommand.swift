import ArgumentParser
import Foundation
import Logging
import NIOCore
import Shared

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension QuotaFormat: ExpressibleByArgument {}

/// `jetbrains-ai-simulator`: plays the JetBrains AI API for tests and benchmarks.
@main
struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jetbrains-ai-simulator",
        abstract: "A local stand-in for the JetBrains AI API (chat v7/v8, quota, license) with fault injection under /_sim/."
    )

    @Option(help: "Address to listen on, HOST:PORT (port 0: the OS picks).")
    var listen = "127.0.0.1:0"

    @Option(help: "JSON file with jwts, licenses, chunks, chunk_delay_ms, quota_format.")
    var config: String?

    @Option(name: .customLong("jwt"), help: "Accept this JWT (repeatable); once any is configured, unknown JWTs get 401.")
    var jwts: [String] = []

    @Option(help: "Content events per answer (default 4).")
    var chunks: Int?

    @Option(name: .customLong("chunk-delay-ms"), help: "Pause before each answer event, in milliseconds (default 0).")
    var chunkDelayMs: Int?

    @Option(name: .customLong("quota-format"), help: "Shape of the quota answer: new or old.")
    var quotaFormat: QuotaFormat?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        _ = try Self.parseListen(listen)
        if let chunks, chunks < 1 { throw ValidationError("--chunks must be at least 1") }
        if let chunkDelayMs, chunkDelayMs < 0 { throw ValidationError("--chunk-delay-ms must not be negative") }
    }

    func run() async throws {
        let level = logLevel
        LogSetup.bootstrap(level: level)
        let logger = Logger(label: "jetbrains-ai-simulator")
        Self.exitOnTerminationSignals()

        let fileConfig = try config.map(SimulatorConfig.load(path:))
        var format = quotaFormat ?? .new
        if quotaFormat == nil, let name = fileConfig?.quotaFormat {
            guard let parsed = QuotaFormat(rawValue: name) else { throw ConfigError("quota_format must be new or old") }
            format = parsed
        }
        let defaults = AnswerDefaults(
            chunks: max(chunks ?? fileConfig?.chunks ?? 4, 1),
            chunkDelayMs: max(chunkDelayMs ?? fileConfig?.chunkDelayMs ?? 0, 0)
        )
        let state = SimulatorState(defaults: defaults, quotaFormat: format)
        try fileConfig?.apply(to: state)
        for jwt in jwts { state.setJWT(jwt) }

        let (host, port) = try Self.parseListen(listen)
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(target: .tcp(host: host, port: port), shutdownTimeout: .seconds(2)),
            responder: SimulatorResponder(state: state, logger: logger),
            logger: logger
        )
        try await server.run(onBound: { address in
            let line = "Simulator listening on http://\(Self.describe(address, fallbackHost: host, fallbackPort: port))\n"
            FileHandle.standardOutput.write(Data(line.utf8))
            logger.info("listening", metadata: ["chunks": "\(defaults.chunks)", "chunk_delay_ms": "\(defaults.chunkDelayMs)"])
        })
    }

    /// `HOST:PORT`, `[v6]:PORT` or `:PORT`.
    static func parseListen(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65_535).contains(port)
        else { throw ValidationError("--listen must be HOST:PORT, got '\(text)'") }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    static func describe(_ address: SocketAddress?, fallbackHost: String, fallbackPort: Int) -> String {
        let host = address?.ipAddress ?? fallbackHost
        let port = address?.port ?? fallbackPort
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// SIGTERM and SIGINT end the process at once with status 0: the simulator keeps nothing
    /// worth saving, and hanging requests (fault `hang`) must not hold up the exit.
    static func exitOnTerminationSignals() {
        signal(SIGTERM) { _ in _exit(0) }
        signal(SIGINT) { _ in _exit(0) }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
