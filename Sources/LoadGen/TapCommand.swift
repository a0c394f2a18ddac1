import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// `tap`: a TCP relay that notes when each `data:` event of the answers passes through it.
/// Put it between the worker and its upstream, and compare with the arrival times `stream`
/// records at the client: the difference is what the worker adds to every single event.
struct TapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tap",
        abstract: "TCP relay that timestamps every SSE `data:` event flowing back from the upstream (JSON lines)."
    )

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen: String

    @Option(help: "Where to relay to, HOST:PORT.")
    var upstream: String

    @Option(name: .customLong("events-out"), help: "Append {\"conn\": n, \"t\": unix_ts} per counted event here.")
    var eventsOut: String

    @Option(help: "Count only `data:` events whose payload contains this text.")
    var match: String?

    @Option(help: "Skip `data:` events whose payload contains this text.")
    var exclude: String?

    static func address(_ text: String) throws -> SocketAddress {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
            throw ValidationError("expected HOST:PORT, got '\(text)'")
        }
        return try SocketAddress.makeAddressResolvingHost(String(text[..<colon]), port: port)
    }

    typealias Bytes = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    func run() async throws {
        let listenAddress = try Self.address(listen)
        let upstreamAddress = try Self.address(upstream)
        let filter = EventFilter(match: match, exclude: exclude)
        guard FileManager.default.createFile(atPath: eventsOut, contents: nil),
            let out = FileHandle(forWritingAtPath: eventsOut)
        else { throw ValidationError("cannot write \(eventsOut)") }
        let sink = Locked(out)
        let connections = Ticket()

        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 1024)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(to: listenAddress) { channel in
                channel.eventLoop.makeCompletedFuture { try Bytes(wrappingChannelSynchronously: channel) }
            }
        Output.emit(["event": "listening", "listen": listen])
        try await server.executeThenClose { inbound in
            try await withThrowingDiscardingTaskGroup { group in
                for try await client in inbound {
                    let id = connections.take()
                    group.addTask {
                        await Self.relay(client, to: upstreamAddress, id: id, filter: filter, sink: sink)
                    }
                }
            }
        }
    }

    /// Copies bytes both ways; on the way back, stamps each counted event when its bytes are
    /// read, writes them on to the client, and only then notes the stamps.
    static func relay(_ client: Bytes, to address: SocketAddress, id: Int, filter: EventFilter, sink: Locked<FileHandle>) async {
        do {
            let upstream = try await ClientBootstrap(group: client.channel.eventLoop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(to: address) { channel in
                    channel.eventLoop.makeCompletedFuture { try Bytes(wrappingChannelSynchronously: channel) }
                }
            try await client.executeThenClose { clientIn, clientOut in
                try await upstream.executeThenClose { upstreamIn, upstreamOut in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await buffer in clientIn { try await upstreamOut.write(buffer) }
                        }
                        group.addTask {
                            var scanner = SSEScanner()
                            for try await buffer in upstreamIn {
                                let t = Clock.unixSeconds()
                                var stamps = 0
                                scanner.feed(buffer) { payload in if filter.counts(payload) { stamps += 1 } }
                                try await clientOut.write(buffer)
                                if stamps > 0 {
                                    let line = String(repeating: "{\"conn\":\(id),\"t\":\(t)}\n", count: stamps)
                                    sink.withLock { $0.write(Data(line.utf8)) }
                                }
                            }
                        }
                        // Either side closing ends the relay of this connection.
                        _ = try await group.next()
                        group.cancelAll()
                    }
                }
            }
        } catch {
            try? await client.channel.close()
        }
    }
}
