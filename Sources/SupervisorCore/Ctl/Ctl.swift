import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Shared

/// Exit codes `ctl` scripts can rely on.
enum CtlExit {
    static let ok: Int32 = 0
    /// The supervisor refused or failed the command (unknown tenant, invalid reload…).
    static let failed: Int32 = 1
    /// No supervisor answers on the control socket.
    static let notRunning: Int32 = 3
    /// `ctl health`: the fleet is degraded / down.
    static let degraded: Int32 = 4
    static let down: Int32 = 5
}

struct CtlOptions: ParsableArguments {
    @Option(name: .long, help: "The supervisor's control socket.")
    var socket: String?

    @Option(name: .long, help: "A fleet file whose supervisor.control_socket to use.")
    var config: String?

    @Flag(name: .long, help: "Print JSON for scripts instead of a table.")
    var json = false

    var socketPath: String { ControlSocketLocator.locate(socket: socket, config: config) }
}

struct Ctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk to a running supervisor over its control socket.",
        discussion: """
        The socket: --socket PATH, else --config FILE's supervisor.control_socket, else $JBAI_SUPERVISOR_SOCKET,
        else ./fleet.yaml's. Exit codes: 0 ok, 1 the command failed, 3 no supervisor is running,
        and for `health`: 4 degraded, 5 down.
        """,
        subcommands: [Status.self, Health.self, Start.self, Stop.self, Restart.self, Reload.self, Logs.self, Events.self, Usage.self]
    )
}

/// One request to the control socket; a missing supervisor is a clear message and exit 3.
func control(_ options: CtlOptions, _ method: HTTPMethod, _ path: String) async throws -> (Int, Data) {
    let socket = options.socketPath
    // Fail fast when nobody listens (the HTTP client would keep retrying until its connect timeout).
    if let reason = unixSocketProblem(socket) {
        FileHandle.standardError.write(Data("jetbrains-ai-supervisor is not running: \(reason)\n".utf8))
        throw ExitCode(CtlExit.notRunning)
    }
    let http = HTTPClient(eventLoopGroupProvider: .singleton)
    var request = HTTPClientRequest(url: UnixHTTPClient.url(socket: socket, path: path))
    request.method = method
    do {
        let response = try await http.execute(request, timeout: .seconds(120))
        let body = try await response.body.collect(upTo: 64 << 20)
        try? await http.shutdown()
        return (Int(response.status.code), Data(body.readableBytesView))
    } catch {
        try? await http.shutdown()
        let reason = FileManager.default.fileExists(atPath: socket)
            ? "\(socket) does not answer (\(error))" : "no control socket at \(socket)"
        FileHandle.standardError.write(Data("jetbrains-ai-supervisor is not running: \(reason)\n".utf8))
        throw ExitCode(CtlExit.notRunning)
    }
}

func printJSON(_ data: Data) {
    if let object = try? JSONSerialization.jsonObject(with: data),
       let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) {
        print(String(decoding: pretty, as: UTF8.self))
    } else {
        print(String(decoding: data, as: UTF8.self))
    }
}

func failIfError(_ status: Int, _ data: Data) throws {
    guard status >= 300 else { return }
    // Every error of the control API is a ControlReply.
    if let reply = try? JSONDecoder().decode(ControlReply.self, from: data) {
        FileHandle.standardError.write(Data((printableLines(reply.message) + "\n").utf8))
    } else {
        FileHandle.standardError.write(data + Data("\n".utf8))
    }
    throw ExitCode(CtlExit.failed)
}

extension Ctl {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every tenant's state, pid, uptime, restarts and JWTs.")
        @OptionGroup var options: CtlOptions
        @Argument(help: "Only this tenant.") var tenant: String?

        func run() async throws {
            let (code, data) = try await control(options, .GET, "/status")
            try failIfError(code, data)
            var status = try JSONDecoder.control().decode(FleetStatus.self, from: data)
            if let tenant {
                guard let one = status.tenants[tenant] else {
                    FileHandle.standardError.write(Data("no tenant named '\(escapingControlCharacters(tenant))'\n".utf8))
                    throw ExitCode(CtlExit.failed)
                }
                status.tenants = [tenant: one]
            }
            if options.json {
                print(String(decoding: try JSONEncoder.control(pretty: true).encode(status), as: UTF8.self))
            } else {
                print("supervisor pid \(status.supervisorPid), up \(Table.duration(status.uptimeS)), config \(status.config)")
                print(Table.tenants(status.tenants))
            }
        }
    }

    struct Health: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The unified health document; exit 0 ok, 4 degraded, 5 down.")
        @OptionGroup var options: CtlOptions

        func run() async throws {
            let (code, data) = try await control(options, .GET, "/health")
            guard code == 200 || code == 503 else { try failIfError(code, data); return }
            let health = try JSONDecoder.control().decode(FleetHealth.self, from: data)
            if options.json {
                printJSON(data)
            } else {
                print("fleet \(health.status.rawValue): \(health.healthyTenants)/\(health.totalTenants) tenants can serve")
                print(Table.tenants(health.tenants))
            }
            switch health.status {
            case .ok: return
            case .degraded: throw ExitCode(CtlExit.degraded)
            case .down, .unknown: throw ExitCode(CtlExit.down)
            }
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a tenant (clears FATAL); without a name, every tenant.")
        @OptionGroup var options: CtlOptions
        @Argument var tenant: String?
        func run() async throws { try await tenantCommand(options, tenant, "start") }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drain and stop a tenant; without a name, every tenant.")
        @OptionGroup var options: CtlOptions
        @Argument var tenant: String?
        func run() async throws { try await tenantCommand(options, tenant, "stop") }
    }

    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace a tenant's worker without refusing requests; without a name, every tenant.")
        @OptionGroup var options: CtlOptions
        @Argument var tenant: String?
        func run() async throws { try await tenantCommand(options, tenant, "restart") }
    }

    struct Reload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-read the fleet file; an invalid file changes nothing and its errors are printed.")
        @OptionGroup var options: CtlOptions

        func run() async throws {
            let (code, data) = try await control(options, .POST, "/reload")
            guard let report = try? JSONDecoder.control().decode(ReloadReport.self, from: data) else {
                try failIfError(max(code, 500), data)
                return
            }
            if options.json {
                printJSON(data)
            } else if report.ok {
                print("reloaded")
                for (tenant, action) in report.actions.sorted(by: { $0.key < $1.key }) {
                    print("  \(tenant.padding(toLength: max(12, tenant.count), withPad: " ", startingAt: 0))  \(action.rawValue)")
                }
            } else {
                FileHandle.standardError.write(Data("reload rejected, the fleet keeps running unchanged:\n".utf8))
                for error in report.errors { FileHandle.standardError.write(Data("  \(escapingControlCharacters(error))\n".utf8)) }
            }
            if !report.ok { throw ExitCode(CtlExit.failed) }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The last lines of a tenant's worker log.")
        @OptionGroup var options: CtlOptions
        @Argument var tenant: String
        @Option(name: [.customShort("n"), .short, .long], help: "How many lines (-n or -l).") var lines = 50

        func run() async throws {
            let (code, data) = try await control(options, .GET, "/tenants/\(tenant)/logs?lines=\(lines)")
            try failIfError(code, data)
            if options.json { printJSON(data); return }
            let tail = try JSONDecoder.control().decode(LogTail.self, from: data)
            for line in tail.lines { print(line) }
        }
    }
}

func tenantCommand(_ options: CtlOptions, _ tenant: String?, _ action: String) async throws {
    let (code, data) = try await control(options, .POST, "/tenants/\(tenant ?? "*")/\(action)")
    if options.json { printJSON(data) }
    try failIfError(code, data)
    if !options.json, let reply = try? JSONDecoder().decode(ControlReply.self, from: data) {
        print(printableLines(reply.message))
    }
}

/// Why a connection to the Unix socket at `path` cannot work, or nil when something listens.
func unixSocketProblem(_ path: String) -> String? {
    guard FileManager.default.fileExists(atPath: path) else { return "no control socket at \(path)" }
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    if result == 0 { return nil }
    let reason = String(cString: strerror(errno))
    return "nothing listens on \(path) (\(reason)): a stale socket of a supervisor that is gone?"
}

/// A message of the supervisor's, one line per line, with control characters inside a line escaped.
func printableLines(_ message: String) -> String {
    message.split(separator: "\n", omittingEmptySubsequences: false)
        .map { escapingControlCharacters(String($0)) }.joined(separator: "\n")
}
