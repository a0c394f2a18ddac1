import NIOCore
import NIOHTTP1

/// One client "thread": sends requests one after another over a keep-alive connection, and
/// opens a new connection when the last one cannot be reused (error, timeout,
/// `Connection: close`).
struct Lane: Sendable {
    let connector: Connector

    /// - Parameters:
    ///   - take: asked before each request; false ends the lane.
    ///   - connectFailed: a request that failed to connect (outcome, start, end).
    ///   - send: performs one exchange on the open connection, starting at `start` (for the
    ///     first request on a connection, the moment the connect began); returns whether the
    ///     connection can carry the next one.
    /// - Returns: the number of connections opened.
    @discardableResult
    func run(
        take: () -> Bool,
        connectFailed: (Outcome, UInt64, UInt64) -> Void,
        send: (inout ResponseIterator, NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>, any Channel, UInt64) async -> Bool
    ) async -> Int {
        var connections = 0
        while !Task.isCancelled, take() {
            let connectStart = Clock.nanos()
            let channel: ClientChannel
            do {
                channel = try await connector.connect()
                connections += 1
            } catch {
                connectFailed(Outcome.classify(error), connectStart, Clock.nanos())
                // Don't spin on a refused port.
                try? await Task.sleep(for: .milliseconds(5))
                continue
            }
            let finished = (try? await channel.executeThenClose { inbound, outbound -> Bool in
                var iterator = inbound.makeAsyncIterator()
                var start = connectStart
                while true {
                    let reusable = await send(&iterator, outbound, channel.channel, start)
                    if !reusable { return false }
                    if Task.isCancelled || !take() { return true }
                    start = Clock.nanos()
                }
            }) ?? false
            if finished { break }
        }
        return connections
    }
}
