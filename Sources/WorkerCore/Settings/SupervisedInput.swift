import Foundation
import Shared

/// The channel from the supervisor on stdin: first one line of JSON with the resolved tenant
/// (secrets travel here, never in argv or the environment), then nothing until the supervisor
/// exits and the pipe closes.
enum SupervisedInput {
    static func readSettings() throws -> SupervisedStart {
        // In blocks, not a byte per read(2): nothing follows the line but the end of the pipe.
        var line = [UInt8]()
        var block = [UInt8](repeating: 0, count: 16 << 10)
        reading: while true {
            let n = block.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            for i in 0..<n {
                if block[i] == UInt8(ascii: "\n") { break reading }
                line.append(block[i])
            }
        }
        guard !line.isEmpty else { throw SettingsError(description: "--settings-from-stdin: no settings on stdin") }
        do {
            return try JSONDecoder.control().decode(SupervisedStart.self, from: Data(line))
        } catch {
            throw SettingsError(description: "--settings-from-stdin: invalid settings: \(error)")
        }
    }

    /// Returns true when stdin reaches end of file, false when cancelled first.
    static func waitForEndOfInput() async -> Bool {
        // A blocking read would pin a cooperative thread; poll with a short timeout instead.
        var pfd = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        var buffer = [UInt8](repeating: 0, count: 256)
        while !Task.isCancelled {
            let ready = poll(&pfd, 1, 0)
            if ready > 0 {
                let n = read(0, &buffer, buffer.count)
                if n <= 0 { return true }
                continue
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return false
    }
}
