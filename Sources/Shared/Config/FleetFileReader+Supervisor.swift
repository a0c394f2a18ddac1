import Foundation

extension FleetFileReader {
    // MARK: - supervisor

    func readSupervisor(_ item: ConfigItem?) -> (SupervisorSettings, listenIsValid: Bool) {
        var settings = SupervisorSettings(defaultsRelativeTo: directory)
        var listenIsValid = true
        guard let item, let f = fields(of: item, allowedKeys: FleetKeys.supervisor) else {
            return (settings, listenIsValid)
        }
        if let i = f["listen"] {
            if let address = listen(i) { settings.listen = address } else { listenIsValid = false }
        }
        if let i = f["control_socket"], let (path, display) = path(i) {
            settings.controlSocket = path
            let limit = Self.maxSocketPathBytes
            if path.utf8.count > limit {
                error(i, "the socket path \(display) is \(path.utf8.count) bytes long once resolved; "
                    + "Unix socket paths are limited to \(limit) bytes")
            }
        }
        if let i = f["run_dir"], let (path, _) = path(i) { settings.runDir = path }
        if let i = f["state_dir"], let (path, _) = path(i) { settings.stateDir = path }
        if let i = f["log_dir"], let text = text(i) {
            if text.value == "-" {
                settings.logDir = nil
            } else if let (path, _) = path(i, text: text) {
                settings.logDir = path
            }
        }
        if let i = f["restart"], let r = fields(of: i, allowedKeys: FleetKeys.restart) {
            var backoffsValid = true
            if let i = r["initial_backoff"] {
                if let v = duration(i, positive: true) { settings.restart.initialBackoff = v } else { backoffsValid = false }
            }
            if let i = r["max_backoff"] {
                if let v = duration(i) { settings.restart.maxBackoff = v } else { backoffsValid = false }
            }
            if let v = r["max_restarts"].flatMap({ int($0, minimum: 0) }) { settings.restart.maxRestarts = v }
            if let v = r["window"].flatMap({ duration($0, positive: true) }) { settings.restart.window = v }
            if backoffsValid, settings.restart.initialBackoff > settings.restart.maxBackoff,
               let culprit = r["initial_backoff"] ?? r["max_backoff"] {
                error(culprit, "initial_backoff (\(formatDuration(settings.restart.initialBackoff))) "
                    + "is longer than max_backoff (\(formatDuration(settings.restart.maxBackoff)))")
            }
        }
        var heartbeatValid = true
        if let i = f["heartbeat_interval"] {
            if let v = duration(i, positive: true) { settings.heartbeatInterval = v } else { heartbeatValid = false }
        }
        if let i = f["heartbeat_timeout"] {
            if let v = duration(i, positive: true) { settings.heartbeatTimeout = v } else { heartbeatValid = false }
        }
        if heartbeatValid, settings.heartbeatTimeout <= settings.heartbeatInterval,
           let culprit = f["heartbeat_timeout"] ?? f["heartbeat_interval"] {
            error(culprit, "heartbeat_timeout (\(formatDuration(settings.heartbeatTimeout))) must be longer "
                + "than heartbeat_interval (\(formatDuration(settings.heartbeatInterval)))")
        }
        if let v = f["shutdown_timeout"].flatMap({ duration($0) }) { settings.shutdownTimeout = v }
        if let i = f["worker_binary"], let (path, _) = path(i) { settings.workerBinary = path }
        if let v = f["log_max_bytes"].flatMap({ size($0) }) { settings.logMaxBytes = v }
        if let v = f["log_backups"].flatMap({ int($0, minimum: 0) }) { settings.logBackups = v }
        applyLimits(f, to: &settings.limits)
        return (settings, listenIsValid)
    }

    #if os(Linux)
    static let maxSocketPathBytes = 107  // sun_path is 108 bytes, NUL included
    #else
    static let maxSocketPathBytes = 103  // sun_path is 104 bytes, NUL included
    #endif
}
