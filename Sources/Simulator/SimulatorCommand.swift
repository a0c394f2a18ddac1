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

extension UntilFormat: ExpressibleByArgument {}
extension AmountFormat: ExpressibleByArgument {}
extension QuotaShape: ExpressibleByArgument {}

/// `jetbrains-ai-simulator`: plays the JetBrains AI API for tests and benchmarks.
@main
struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jetbrains-ai-simulator",
        abstract:
            "A local stand-in for the JetBrains AI API (chat v7/v8, responses, profiles, quota, license, OAuth) with fault injection under /_sim/."
    )

    @Option(help: "Address to listen on, HOST:PORT (port 0: the OS picks).")
    var listen = "127.0.0.1:0"

    @Option(help: "JSON file with jwts, licenses, refresh_tokens, chunks, chunk_delay_ms, protocol, profiles.")
    var config: String?

    @Option(name: .customLong("jwt"), help: "Accept this JWT (repeatable); once any is configured, unknown JWTs get 401.")
    var jwts: [String] = []

    @Option(help: "Content events per answer (default 4).")
    var chunks: Int?

    @Option(name: .customLong("chunk-delay-ms"), help: "Pause before each answer event, in milliseconds (default 0).")
    var chunkDelayMs: Int?

    @Option(name: .customLong("quota-format"), help: ArgumentHelp("Old name of --quota-shape: new (= current) or old.", visibility: .hidden))
    var quotaFormat: String?

    @Option(name: .customLong("until-format"), help: "How `until` is written: epoch_ms (default), iso or epoch_ms_string.")
    var untilFormat: UntilFormat?

    @Option(name: .customLong("amount-format"), help: "How quota amounts are written: string (default) or number.")
    var amountFormat: AmountFormat?

    @Option(name: .customLong("quota-shape"), help: "Shape of the quota answer: current (default), tariff or old.")
    var quotaShape: QuotaShape?

    @Flag(name: .customLong("event-type"), inversion: .prefixedNo, help: "Chat events carry \"event_type\":\"data\" (default on).")
    var eventType: Bool?

    @Flag(name: .customLong("extra-noise"), inversion: .prefixedNo, help: "Extra metadata events and unknown fields in chat streams (default off).")
    var extraNoise: Bool?

    @Flag(name: .customLong("reject-unknown-profiles"), inversion: .prefixedNo, help: "400 Unsupported model for a profile not in the list (default on).")
    var rejectUnknownProfiles: Bool?

    @Flag(name: .customLong("reject-unsupported-parameters"), inversion: .prefixedNo, help: "400 for a parameter the profile's family does not take (default on).")
    var rejectUnsupportedParameters: Bool?

    @Flag(name: .customLong("omit-parallel-index-when-single"), inversion: .prefixedNo, help: "A lone tool call carries no parallelToolIndex (default off).")
    var omitParallelIndexWhenSingle: Bool?

    @Option(name: .customLong("profiles"), help: "Comma-separated profile ids to offer (default: every chat profile on the protocol page).")
    var profiles: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        _ = try Self.parseListen(listen)
        if let chunks, chunks < 1 { throw ValidationError("--chunks must be at least 1") }
        if let chunkDelayMs, chunkDelayMs < 0 { throw ValidationError("--chunk-delay-ms must not be negative") }
        if let quotaFormat, QuotaShape(legacyName: quotaFormat) == nil {
            throw ValidationError("--quota-format must be new or old")
        }
        if let profiles, Self.profileList(profiles).isEmpty { throw ValidationError("--profiles needs at least one profile id") }
    }

    static func profileList(_ text: String) -> [String] {
        text.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
    }

    /// The protocol settings: built-in defaults, then the config file, then the flags.
    func protocolSettings(file: SimulatorConfig?) throws -> ProtocolSettings {
        var settings = try file?.settings(over: ProtocolSettings()) ?? ProtocolSettings()
        if let quotaFormat, let shape = QuotaShape(legacyName: quotaFormat) { settings.quotaShape = shape }
        if let quotaShape { settings.quotaShape = quotaShape }
        if let untilFormat { settings.untilFormat = untilFormat }
        if let amountFormat { settings.amountFormat = amountFormat }
        if let eventType { settings.eventType = eventType }
        if let extraNoise { settings.extraNoise = extraNoise }
        if let rejectUnknownProfiles { settings.rejectUnknownProfiles = rejectUnknownProfiles }
        if let rejectUnsupportedParameters { settings.rejectUnsupportedParameters = rejectUnsupportedParameters }
        if let omitParallelIndexWhenSingle { settings.omitParallelIndexWhenSingle = omitParallelIndexWhenSingle }
        return settings
    }

    func run() async throws {
        let level = logLevel
        LogSetup.bootstrap(level: level)
        let logger = Logger(label: "jetbrains-ai-simulator")
        Self.exitOnTerminationSignals()

        let fileConfig = try config.map(SimulatorConfig.load(path:))
        let settings = try protocolSettings(file: fileConfig)
        let profileIDs = profiles.map(Self.profileList) ?? fileConfig?.profiles ?? ProfileCatalog.defaultIDs
        let defaults = AnswerDefaults(
            chunks: max(chunks ?? fileConfig?.chunks ?? 4, 1),
            chunkDelayMs: max(chunkDelayMs ?? fileConfig?.chunkDelayMs ?? 0, 0)
        )
        let state = SimulatorState(defaults: defaults, protocolSettings: settings, profiles: profileIDs)
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
            logger.info(
                "listening",
                metadata: [
                    "chunks": "\(defaults.chunks)", "chunk_delay_ms": "\(defaults.chunkDelayMs)",
                    "protocol": "\(settings.json.text)", "profiles": "\(profileIDs.count)",
                ]
            )
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
