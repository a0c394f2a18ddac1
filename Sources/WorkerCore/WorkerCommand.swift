import ArgumentParser
import CMalloc
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared
import Synchronization

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jetbrains-ai-proxy",
        abstract: "An OpenAI-compatible proxy in front of JetBrains AI, balancing a pool of JWTs.",
        discussion: """
        Ways to start it:
          Seed style (drop-in for the Go jetbrains-ai-proxy):
            jetbrains-ai-proxy -c "jwt1,jwt2" -k CLIENT_KEY -p 8080
            Environment: JWT_TOKENS (or JWT_TOKEN), BEARER_TOKEN, LOAD_BALANCE_STRATEGY, SERVER_HOST,
            SERVER_PORT, CONFIG_FILE, JETBRAINS_AI_UPSTREAM; a .env file in the working directory is read too.
            Config file (first found): config.json, config/config.json, configs/config.json,
            .config/jetbrains-ai-proxy.json, $HOME/.config/jetbrains-ai-proxy/config.json.
            Precedence: command line, environment, config file, defaults.
          One tenant of a fleet file:
            jetbrains-ai-proxy --config fleet.yaml --tenant team-a [--control-socket run/team-a.sock]
            Secrets stay in the file or the environment (${VAR}), never on the command line.
          Socket activation: when LISTEN_FDS/LISTEN_PID name this process, fd 3 is served instead of binding.
        Signals: SIGTERM/SIGINT drain (finish requests in flight) and exit 0; SIGHUP reloads the configuration.
        Log level: LOG_LEVEL=trace|debug|info|warning|error (default info).
        """,
        version: BuildInfo.version,
        helpNames: [.long]
    )

    @Option(name: .customShort("c"), help: "JWTs, comma-separated.")
    var jwts: String?

    @Option(name: .customShort("k"), help: "The bearer token clients must send.")
    var bearerToken: String?

    @Option(name: .customShort("s"), help: "Balancing strategy: round_robin, random or least_busy.")
    var strategy: String?

    @Option(name: .customShort("p"), help: "Listen port (default 8080; 0 lets the OS choose).")
    var port: Int?

    @Option(name: .customShort("h"), help: "Listen host (default 0.0.0.0).")
    var host: String?

    @Option(name: .long, help: "Config file: the seed's JSON, or a fleet YAML together with --tenant.")
    var config: String?

    @Option(name: .long, help: "With a fleet YAML: the tenant to run.")
    var tenant: String?

    @Option(name: .long, help: "Serve the control API (health, stats, drain) on this Unix socket (mode 0600).")
    var controlSocket: String?

    @Flag(name: .long, help: .hidden)
    var settingsFromStdin = false

    @Option(name: .long, help: "Upstream base URL (default https://api.jetbrains.ai; env JETBRAINS_AI_UPSTREAM).")
    var upstream: String?

    @Option(name: .long, help: "Upstream chat API version: v8 (default) or v7.")
    var apiVersion: String?

    @Flag(name: .long, help: "Write config/config.json and .env.example examples, then exit.")
    var generateConfig = false

    @Flag(name: .long, help: "Print the effective configuration (secrets shortened), then exit.")
    var printConfig = false

    /// Go's flag package accepts `-flag`, `--flag` and `-flag=value` alike; the seed's users do too.
    static func normalize(_ arguments: [String]) -> [String] {
        let longNames: Set<String> = [
            "config", "tenant", "control-socket", "settings-from-stdin", "upstream", "api-version", "generate-config", "print-config", "help", "version",
        ]
        let shortNames: Set<String> = ["c", "k", "s", "p", "h"]
        var out: [String] = []
        for arg in arguments {
            guard arg.hasPrefix("-"), arg != "-", arg != "--" else { out.append(arg); continue }
            let stripped = String(arg.drop(while: { $0 == "-" }))
            let (name, value): (String, String?) = {
                guard let eq = stripped.firstIndex(of: "=") else { return (stripped, nil) }
                return (String(stripped[..<eq]), String(stripped[stripped.index(after: eq)...]))
            }()
            if shortNames.contains(name) {
                out.append("-" + name)
                if let value { out.append(value) }
            } else if longNames.contains(name) {
                out.append("--" + name)
                if let value { out.append(value) }
            } else {
                out.append(arg)
            }
        }
        return out
    }

    /// The executable's entry point (argv normalised first).
    static func main() async {
        do {
            var command = try parseAsRoot(normalize(Array(CommandLine.arguments.dropFirst())))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    var source: ConfigSource {
        get throws {
            if settingsFromStdin { return .supervised(try SupervisedInput.readSettings()) }
            return seedOrFleetSource
        }
    }

    var seedOrFleetSource: ConfigSource {
        if let tenant, let config {
            return .fleet(path: config, tenant: tenant)
        }
        return .seed(SeedOptions(
            jwts: jwts, bearerToken: bearerToken, strategy: strategy, port: port, host: host,
            configPath: config, upstream: upstream, apiVersion: apiVersion
        ))
    }

    func validate() throws {
        if settingsFromStdin { return }
        if tenant != nil && config == nil {
            throw ValidationError("--tenant needs --config FLEET.yaml")
        }
        if let config, tenant == nil, config.hasSuffix(".yaml") || config.hasSuffix(".yml") {
            throw ValidationError("\(config) looks like a fleet file: add --tenant NAME")
        }
        if tenant != nil && (jwts != nil || bearerToken != nil) {
            throw ValidationError("with --tenant, JWTs and keys come from the fleet file; -c and -k are not accepted")
        }
    }

    func run() async throws {
        if generateConfig {
            for line in try SeedExamples.write(into: FileManager.default.currentDirectoryPath) { print(line) }
            return
        }
        let settings: TenantConfig
        let source: ConfigSource
        do {
            source = try self.source
            settings = try source.load()
        } catch {
            FileHandle.standardError.write(Data("jetbrains-ai-proxy: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if printConfig {
            let runtime = WorkerRuntime(source: source, settings: settings, logger: Logger(label: "print-config"))
            print(runtime.configSummary().prettyText)
            await runtime.shutdownClients()
            return
        }
        // One descriptor per client and per upstream connection: 1024 is far too few.
        let limits = FileLimits.raiseSoftLimit()
        LogSetup.bootstrap()
        var logger = Logger(label: "jetbrains-ai-proxy")
        if tenant != nil || settingsFromStdin { logger[metadataKey: "tenant"] = "\(settings.name)" }
        if let limits { logger.debug("\(limits)") }
        do {
            try await WorkerMain(
                source: source, settings: settings, controlSocket: controlSocket,
                exitWhenStdinCloses: settingsFromStdin, logger: logger
            ).run()
        } catch is WorkerMain.WorkerFailure {
            throw ExitCode(1)  // logged already
        } catch {
            logger.error("cannot start: \(error)")
            throw ExitCode(1)
        }
    }
}

extension JSONValue {
    /// Indented JSON with sorted keys, for people.
    var prettyText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? jsonText
    }
}

/// The executable's entry point, for the thin `main.swift` of the binary target.
public enum WorkerEntry {
    /// Makes NIO's singleton event loops Swift concurrency's global executor (unless
    /// `JBAI_NIO_EXECUTOR=off`). The worker's work is I/O on those loops; without this, every
    /// `await` on a channel or an upstream response hops between NIO's threads and the
    /// concurrency pool's (a futex wake and a context switch each way), and on 2 cores the
    /// two pools' four threads compete for the CPU. Must run on the main thread before any
    /// task is created. Nothing on the worker's tasks blocks a thread for long: SQLite runs on
    /// its own thread pool, and files are read only at start and reload.
    public static func installEventLoopExecutor() {
        guard ProcessInfo.processInfo.environment["JBAI_NIO_EXECUTOR"] != "off" else { return }
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    public static func main() async {
        // Request bodies of megabytes are mmapped and handed back to the system when freed.
        // glibc's default threshold rises after the first such free, so later big bodies would
        // come from the heap and stay in the process (790 MB held after 30 bodies of 9 MB).
        _ = jbai_set_mmap_threshold(512 << 10)
        await WorkerCommand.main()
    }
}
