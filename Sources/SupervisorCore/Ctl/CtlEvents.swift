import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import Shared

extension Ctl {
    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The supervisor's recent events (starts, exits, hangs, back-offs, reloads, JWT states).",
            discussion: "--follow keeps printing new events as they happen; --json prints one JSON object per line."
        )
        @OptionGroup var options: CtlOptions
        @Argument(help: "Only this tenant's events (and the fleet's own, such as reloads).") var tenant: String?
        @Option(name: [.customShort("n"), .long], help: "How many of the latest events.") var lines = 50
        @Flag(name: .long, help: "Keep streaming new events until interrupted.") var follow = false

        func run() async throws {
            var path = "/events?n=\(max(0, lines))"
            if let tenant { path += "&tenant=" + (tenant.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? tenant) }
            if follow {
                try await stream(path + "&follow=1")
                return
            }
            let (code, data) = try await control(options, .GET, path)
            try failIfError(code, data)
            let entries = try JSONDecoder.control().decode([HistoryEntry].self, from: data)
            for entry in entries { print(line(entry)) }
        }

        private func line(_ entry: HistoryEntry) -> String {
            if options.json {
                return (try? String(decoding: JSONEncoder.control().encode(entry), as: UTF8.self)) ?? "{}"
            }
            return EventLine.text(entry)
        }

        /// Streams `GET /events?follow=1`: one JSON object a line, printed as it arrives.
        private func stream(_ path: String) async throws {
            let socket = options.socketPath
            if let reason = unixSocketProblem(socket) {
                FileHandle.standardError.write(Data("jetbrains-ai-supervisor is not running: \(reason)\n".utf8))
                throw ExitCode(CtlExit.notRunning)
            }
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            defer { _ = http.shutdown() }
            var request = HTTPClientRequest(url: UnixHTTPClient.url(socket: socket, path: path))
            request.method = .GET
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: .hours(24 * 365))
            } catch {
                FileHandle.standardError.write(Data("jetbrains-ai-supervisor is not running: \(socket) does not answer (\(error))\n".utf8))
                throw ExitCode(CtlExit.notRunning)
            }
            guard response.status.code < 300 else {
                let body = try await response.body.collect(upTo: 1 << 20)
                try failIfError(Int(response.status.code), Data(body.readableBytesView))
                return
            }
            var pending = ""
            for try await buffer in response.body {
                pending += String(buffer: buffer)
                while let newline = pending.firstIndex(of: "\n") {
                    let text = String(pending[..<newline])
                    pending = String(pending[pending.index(after: newline)...])
                    guard !text.isEmpty else { continue }
                    // Written at once (not through print's buffer), so a pipe sees each event as it happens.
                    if options.json {
                        FileHandle.standardOutput.write(Data((text + "\n").utf8))
                    } else if let entry = try? JSONDecoder.control().decode(HistoryEntry.self, from: Data(text.utf8)) {
                        FileHandle.standardOutput.write(Data((EventLine.text(entry) + "\n").utf8))
                    }
                }
            }
        }
    }
}

/// How `ctl events` prints one event for people.
enum EventLine {
    static func text(_ entry: HistoryEntry) -> String {
        let time = entry.time.formatted(Date.ISO8601FormatStyle())
        let tenant = entry.tenant ?? "-"
        return "\(time)  \(tenant.padding(toLength: max(12, tenant.count), withPad: " ", startingAt: 0))  "
            + "\(entry.kind.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0))  \(entry.message)"
    }
}
