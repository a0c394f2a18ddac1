import NIOCore

/// Incremental server-sent-events parser: feed it bytes as they arrive, get back the `data`
/// payload of every complete event. Handles `\n` and `\r\n`, multi-line `data:` fields
/// (joined with `\n`), comments and other fields (ignored).
///
/// Lines are found by scanning the bytes as they are; only a line cut by a chunk boundary is
/// copied (into `pending`), and only `data` values become strings.
struct SSEParser: Sendable {
    private var pending: [UInt8] = []
    private var dataLines: [String] = []
    private var hasData = false

    mutating func feed(_ buffer: ByteBuffer) -> [String] {
        buffer.withUnsafeReadableBytes { feed(raw: $0) }
    }

    mutating func feed<Bytes: Sequence>(_ bytes: Bytes) -> [String] where Bytes.Element == UInt8 {
        if let events = bytes.withContiguousStorageIfAvailable({ feed(raw: UnsafeRawBufferPointer($0)) }) { return events }
        return Array(bytes).withUnsafeBytes { feed(raw: $0) }
    }

    private mutating func feed(raw bytes: UnsafeRawBufferPointer) -> [String] {
        var events: [String] = []
        var start = 0
        while let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            if pending.isEmpty {
                var end = newline
                if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                if let event = line(UnsafeRawBufferPointer(rebasing: bytes[start..<end])) { events.append(event) }
            } else {
                pending.append(contentsOf: bytes[start..<newline])
                if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
                let event = pending.withUnsafeBytes { line($0) }
                pending.removeAll(keepingCapacity: true)
                if let event { events.append(event) }
            }
            start = newline + 1
        }
        pending.append(contentsOf: bytes[start...])
        return events
    }

    /// Call at end of stream: a last event without its blank line still counts.
    mutating func finish() -> [String] {
        var events: [String] = []
        if !pending.isEmpty, let event = pending.withUnsafeBytes({ line($0) }) { events.append(event) }
        pending.removeAll()
        if let event = line(UnsafeRawBufferPointer(start: nil, count: 0)) { events.append(event) }
        return events
    }

    private mutating func line(_ bytes: UnsafeRawBufferPointer) -> String? {
        if bytes.isEmpty {
            guard hasData else { return nil }
            defer { dataLines.removeAll(); hasData = false }
            return dataLines.count == 1 ? dataLines[0] : dataLines.joined(separator: "\n")
        }
        if bytes[0] == UInt8(ascii: ":") { return nil }
        let colon = bytes.firstIndex(of: UInt8(ascii: ":")) ?? bytes.count
        guard colon == 4, bytes[0] == UInt8(ascii: "d"), bytes[1] == UInt8(ascii: "a"),
              bytes[2] == UInt8(ascii: "t"), bytes[3] == UInt8(ascii: "a")
        else { return nil }
        var valueStart = min(colon + 1, bytes.count)
        if valueStart < bytes.count, bytes[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        dataLines.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[valueStart...]), as: UTF8.self))
        hasData = true
        return nil
    }
}
