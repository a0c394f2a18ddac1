import NIOCore

/// Incremental server-sent-events parser: feed it bytes as they arrive, get back the `data`
/// payload of every complete event. Handles `\n` and `\r\n`, multi-line `data:` fields
/// (joined with `\n`), comments and other fields (ignored).
struct SSEParser: Sendable {
    private var pending: [UInt8] = []
    private var dataLines: [String] = []
    private var hasData = false

    mutating func feed(_ buffer: ByteBuffer) -> [String] {
        feed(buffer.readableBytesView)
    }

    mutating func feed<Bytes: Sequence>(_ bytes: Bytes) -> [String] where Bytes.Element == UInt8 {
        var events: [String] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
                if let event = line(pending) { events.append(event) }
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(byte)
            }
        }
        return events
    }

    /// Call at end of stream: a last event without its blank line still counts.
    mutating func finish() -> [String] {
        var events: [String] = []
        if !pending.isEmpty, let event = line(pending) { events.append(event) }
        pending.removeAll()
        if let event = line([]) { events.append(event) }
        return events
    }

    private mutating func line(_ bytes: [UInt8]) -> String? {
        if bytes.isEmpty {
            guard hasData else { return nil }
            defer { dataLines.removeAll(); hasData = false }
            return dataLines.joined(separator: "\n")
        }
        if bytes.first == UInt8(ascii: ":") { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        let field: Substring
        var value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            value = text[text.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = text[...]
            value = ""
        }
        if field == "data" {
            dataLines.append(String(value))
            hasData = true
        }
        return nil
    }
}
