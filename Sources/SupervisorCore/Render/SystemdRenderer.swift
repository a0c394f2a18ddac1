import Foundation
import Shared

/// `render systemd`: a unit for the supervisor. `Type=notify` (the supervisor sends READY=1
/// once it serves, STOPPING=1 when it drains, WATCHDOG=1 when systemd asks for it),
/// `ExecReload` runs `ctl reload`, and the hardening options a network daemon that only
/// writes its own folders can take. Pure: the fleet in, the unit text out.
struct SystemdRenderer {
    struct Options: Sendable {
        /// Where `jetbrains-ai-supervisor` is installed.
        var binaryDirectory = "/usr/local/bin"
        var user = "jetbrains-ai"
        /// Holds the values of the file's `${NAME}`s, NAME=value per line, mode 0600.
        var environmentFile = "/etc/jetbrains-ai/jetbrains-ai.env"
        /// systemd kills the supervisor if it misses its watchdog this long (it pings at half).
        var watchdogSeconds = 30
    }

    /// The folders systemd creates for the unit (owned by `user`) and that the fleet file
    /// should use: `/run/jetbrains-ai`, `/var/lib/jetbrains-ai`, `/var/log/jetbrains-ai`.
    static let directoryName = "jetbrains-ai"

    var options = Options()

    struct Output {
        var unit: String
        var warnings: [String]
    }

    func render(_ input: RenderInput) -> Output {
        let config = input.config
        let s = config.supervisor
        let binary = (options.binaryDirectory as NSString).appendingPathComponent("jetbrains-ai-supervisor")
        let file = config.path
        var warnings: [String] = []

        // Folders the supervisor writes outside the ones systemd makes for it.
        let managed = ["/run/\(Self.directoryName)", "/var/lib/\(Self.directoryName)", "/var/log/\(Self.directoryName)"]
        var writable: [String] = []
        let written = [s.runDir, (s.controlSocket as NSString).deletingLastPathComponent, s.stateDir] + (s.logDir.map { [$0] } ?? [])
        for path in written where !managed.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) && !writable.contains(path) {
            writable.append(path)
        }
        if !writable.isEmpty {
            warnings.append("the fleet file's folders \(writable.joined(separator: ", ")) are outside /run, /var/lib and "
                + "/var/log/\(Self.directoryName): the unit lists them in ReadWritePaths (they must exist); "
                + "run_dir: /run/\(Self.directoryName), state_dir: /var/lib/\(Self.directoryName) and log_dir: "
                + "/var/log/\(Self.directoryName) need nothing extra")
        }
        let home = ["/home", "/root", "/run/user"]
        let readsHome = ([file] + writable).contains { path in home.contains { path == $0 || path.hasPrefix($0 + "/") } }
        let variables = input.variableNames
        let stopTimeout = Int(ceil(s.shutdownTimeout.seconds)) + 15
        let tenants = config.tenants.map(\.name).joined(separator: ", ")

        var lines: [String] = [
            "# Rendered by `jetbrains-ai-supervisor render systemd \(file)`.",
            "# Install: copy to /etc/systemd/system/jetbrains-ai-supervisor.service, create the user",
            "# (useradd --system --no-create-home \(options.user)), then systemctl daemon-reload &&",
            "# systemctl enable --now jetbrains-ai-supervisor. Reload the fleet file: systemctl reload.",
        ]
        if !variables.isEmpty {
            lines.append("# \(options.environmentFile) (mode 0600, owned by root) sets: \(variables.joined(separator: ", "))")
        }
        lines += [
            "[Unit]",
            "Description=jetbrains-ai-supervisor: JetBrains AI proxy fleet (\(tenants))",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=notify",
            "NotifyAccess=main",
            "ExecStart=\(Self.quote(binary)) run \(Self.quote(file))",
            "ExecReload=\(Self.quote(binary)) ctl --config \(Self.quote(file)) reload",
            "EnvironmentFile=-\(options.environmentFile)",
            "User=\(options.user)",
            "Group=\(options.user)",
            "Restart=on-failure",
            "RestartSec=2s",
            "WatchdogSec=\(options.watchdogSeconds)s",
            "# SIGTERM to the supervisor only: it drains every worker (shutdown_timeout \(formatDuration(s.shutdownTimeout))),",
            "# whatever is left after TimeoutStopSec gets SIGKILL.",
            "KillMode=mixed",
            "TimeoutStopSec=\(stopTimeout)s",
            "RuntimeDirectory=\(Self.directoryName)",
            "RuntimeDirectoryMode=0700",
            "StateDirectory=\(Self.directoryName)",
            "StateDirectoryMode=0700",
            "LogsDirectory=\(Self.directoryName)",
            "UMask=0077",
            "LimitNOFILE=65536",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=\(readsHome ? "read-only" : "yes")",
            "PrivateTmp=yes",
            "PrivateDevices=yes",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectKernelLogs=yes",
            "ProtectControlGroups=yes",
            "ProtectClock=yes",
            "ProtectHostname=yes",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
            "RestrictNamespaces=yes",
            "RestrictRealtime=yes",
            "RestrictSUIDSGID=yes",
            "LockPersonality=yes",
            "SystemCallArchitectures=native",
            "CapabilityBoundingSet=",
            "AmbientCapabilities=",
        ]
        if !writable.isEmpty {
            lines.append("ReadWritePaths=\(writable.map(Self.quote).joined(separator: " "))")
        }
        lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
        return Output(unit: lines.joined(separator: "\n"), warnings: warnings)
    }

    /// A path as one word of a unit's command line (quoted when it has spaces or quotes).
    static func quote(_ word: String) -> String {
        guard word.contains(where: { $0 == " " || $0 == "\"" || $0 == "\\" || $0 == "'" || $0 == "%" || $0 == "$" }) else {
            return word
        }
        let escaped = word.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "%", with: "%%").replacingOccurrences(of: "$", with: "$$")
        return "\"\(escaped)\""
    }
}
