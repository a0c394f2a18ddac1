import Logging
import NIOCore
import NIOEmbedded
import Testing
@testable import Shared

/// `ConnectionCapHandler` on a listener's pipeline: connections are admitted in the order they
/// were accepted, and one past the cap is closed without reaching the accept handler.
@Suite struct ConnectionCapTests {
    @Test func theConnectionPastTheCapIsTheOneShedInAcceptOrder() throws {
        let counters = ConnectionCounters()
        let listener = EmbeddedChannel(handler: ConnectionCapHandler(limit: 2, counters: counters, logger: Logger(label: "test")))
        let accepted = (0..<3).map { _ in EmbeddedChannel() }
        for child in accepted {
            try child.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            try listener.writeInbound(child as any Channel)
        }
        // The first two go on to the accept handler, the third is closed at once.
        let forwarded = try [listener.readInbound(as: (any Channel).self), listener.readInbound(as: (any Channel).self)]
        #expect(forwarded.map { $0.map(ObjectIdentifier.init) } == accepted.prefix(2).map { ObjectIdentifier($0) })
        #expect(try listener.readInbound(as: (any Channel).self) == nil)
        #expect(accepted[0].isActive && accepted[1].isActive)
        #expect(!accepted[2].isActive)
        #expect(counters.open.load(ordering: .relaxed) == 2)
        #expect(counters.shed.load(ordering: .relaxed) == 1)
        // A place given back is taken by the next connection.
        try accepted[0].close().wait()
        accepted[0].embeddedEventLoop.run()
        #expect(counters.open.load(ordering: .relaxed) == 1)
        let next = EmbeddedChannel()
        try next.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try listener.writeInbound(next as any Channel)
        #expect(try listener.readInbound(as: (any Channel).self).map(ObjectIdentifier.init) == ObjectIdentifier(next))
        _ = try? accepted[1].finish()
        _ = try? next.finish()
        _ = try? listener.finish()
    }
}
