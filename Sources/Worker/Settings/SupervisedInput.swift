import Foundation
import Shared

/// The channel from the supervisor on stdin: first one line of JSON with the resolved tenant
/// (secrets travel here, never in argv or the environment), then nothing until the supervisor
/// exits and the pipe closes.
enum SupervisedInput {
    static func readSettings() throws -> TenantConfig {
        var line = [UInt8]()
        var byte: UInt8 = 0
        while read(0, &byte, 1) == 1 {
            if byte == UInt8(ascii: "\n") { break }
            line.append(byte)
        }
        guard !line.isEmpty else { throw SettingsError(description: "--settings-from-stdin: no settings on stdin") }
        do {
            return try JSONDecoder().decode(TenantConfig.self, from: Data(line))
        } catch {
            throw SettingsError(description: "--settings-from-stdin: invalid settings: \(error)")
        }
    }

    /// Returns when stdin reaches end of file (or is cancelled).
    static func waitForEndOfInput() async {
        // A blocking read would pin a cooperative thread; poll with a short timeout instead.
        var pfd = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        var buffer = [UInt8](repeating: 0, count: 256)
        while !Task.isCancelled {
            let ready = poll(&pfd, 1, 0)
            if ready > 0 {
                let n = read(0, &buffer, buffer.count)
                if n <= 0 { return }
                continue
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }
}
