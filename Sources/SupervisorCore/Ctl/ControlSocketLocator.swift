import Foundation
import Shared
import Yams

/// Finds the supervisor's control socket for `ctl`: `--socket PATH`, else `--config FILE`'s
/// `supervisor.control_socket`, else `$JBAI_SUPERVISOR_SOCKET`, else `./fleet.yaml`'s socket.
/// Only that one key is read, so a file whose `${VARS}` are not set in this shell still works.
enum ControlSocketLocator {
    static let defaultSocket = "run/supervisor.sock"

    static func locate(
        socket: String?,
        config: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        workingDirectory: String = FileManager.default.currentDirectoryPath
    ) -> String {
        if let socket { return ConfigPaths.resolve(socket, against: workingDirectory) }
        if let config { return socketPath(inFleetFile: ConfigPaths.resolve(config, against: workingDirectory)) }
        if let env = environment["JBAI_SUPERVISOR_SOCKET"], !env.isEmpty { return env }
        return socketPath(inFleetFile: workingDirectory + "/fleet.yaml")
    }

    static func socketPath(inFleetFile path: String) -> String {
        let directory = ConfigPaths.directory(of: path)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let node = try? Yams.compose(yaml: text),
              let configured = node["supervisor"]?["control_socket"]?.string
        else { return ConfigPaths.resolve(defaultSocket, against: directory) }
        return ConfigPaths.resolve(configured, against: directory)
    }
}
