import ArgumentParser
import Foundation
import Logging
import Shared

struct SupervisorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jetbrains-ai-supervisor",
        abstract: "Runs a fleet of jetbrains-ai-proxy workers described by one YAML file.",
        discussion: """
        jetbrains-ai-supervisor run fleet.yaml      start the fleet (also: jetbrains-ai-supervisor fleet.yaml)
        jetbrains-ai-supervisor check fleet.yaml    validate the file, start nothing
        jetbrains-ai-supervisor ctl status          ask the running supervisor (see ctl --help)
        jetbrains-ai-supervisor render kubernetes fleet.yaml   manifests for a cluster (also: render systemd)
        Signals: SIGHUP reloads the file; SIGTERM/SIGINT drain every worker and exit 0.
        """,
        version: BuildInfo.version,
        subcommands: [Run.self, Check.self, Ctl.self, Render.self],
        defaultSubcommand: Run.self
    )

    /// `ctl --socket S status` and `ctl status --socket S` both work: options given before the
    /// ctl subcommand are moved after it, where the parser expects them.
    static func normalize(_ arguments: [String]) -> [String] {
        guard arguments.first == "ctl" else { return arguments }
        var leading: [String] = []
        var rest = Array(arguments.dropFirst())
        while let first = rest.first, first.hasPrefix("--") {
            if ["--socket", "--config"].contains(first), rest.count >= 2 {
                leading += rest.prefix(2)
                rest.removeFirst(2)
            } else if first == "--json" || first.contains("=") {
                leading.append(first)
                rest.removeFirst()
            } else {
                break
            }
        }
        guard let subcommand = rest.first else { return arguments }
        return ["ctl", subcommand] + leading + rest.dropFirst()
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
}

func loadFleet(_ path: String) throws -> FleetConfig {
    do {
        return try FleetConfigLoader.load(path: path)
    } catch let error as ConfigError {
        FileHandle.standardError.write(Data((error.description + "\n").utf8))
        FileHandle.standardError.write(Data("\(path): \(error.diagnostics.count) error(s)\n".utf8))
        throw ExitCode(1)
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate a fleet file without starting anything.")

    @Argument(help: "The fleet YAML file.")
    var file: String

    func run() async throws {
        let config = try loadFleet(file)
        print("\(file): OK, \(config.tenants.count) tenant(s): \(config.tenants.map(\.name).joined(separator: ", "))")
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the fleet described by FILE and keep it running.")

    @Argument(help: "The fleet YAML file.")
    var file: String = "fleet.yaml"

    func run() async throws {
        let config = try loadFleet(file)
        LogSetup.bootstrap()
        let logger = Logger(label: "jetbrains-ai-supervisor")
        // A worker that exits before reading its settings must not take us down with SIGPIPE:
        // the write just fails.
        signal(SIGPIPE, SIG_IGN)
        do {
            try await SupervisorRunner(config: config, logger: logger).run()
        } catch let error as FleetRuntime.StartupError {
            FileHandle.standardError.write(Data("jetbrains-ai-supervisor: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// The executable's entry point, for the thin `main.swift` of the binary target.
public enum SupervisorEntry {
    public static func main() async { await SupervisorCommand.main() }
}
