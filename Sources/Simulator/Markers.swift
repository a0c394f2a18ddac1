/// Per-request overrides written into the last user message, e.g. `[[chunks=2]]`.
///
/// Recognised: `[[chunks=N]]`, `[[delay_ms=N]]`, `[[finish=length]]`, `[[text=SOMETHING]]`,
/// `[[parallel_tools=N]]` (with tools offered: N parallel calls whose pieces interleave).
/// They are removed from the text; when any was removed the rest is trimmed of surrounding
/// whitespace. Unrecognised `[[…]]` stay in the text.
struct Markers: Sendable, Equatable {
    var chunks: Int?
    var delayMs: Int?
    var finishLength = false
    var text: String?
    var parallelTools: Int?
    /// The message without its markers.
    var stripped: String

    static let keys: Set<String> = ["chunks", "delay_ms", "finish", "text", "parallel_tools"]

    init(parsing message: String) {
        var out = ""
        var found = false
        var rest = message[...]
        while let open = rest.range(of: "[[") {
            guard let close = rest[open.upperBound...].range(of: "]]") else { break }
            let inside = rest[open.upperBound..<close.lowerBound]
            out += rest[..<open.lowerBound]
            if let eq = inside.firstIndex(of: "="), Self.keys.contains(String(inside[..<eq])) {
                found = true
                let value = String(inside[inside.index(after: eq)...])
                switch String(inside[..<eq]) {
                case "chunks": chunks = Int(value.trimmingSpaces)
                case "delay_ms": delayMs = Int(value.trimmingSpaces)
                case "finish": finishLength = value.trimmingSpaces == "length"
                case "parallel_tools": parallelTools = Int(value.trimmingSpaces)
                default: text = value
                }
            } else {
                out += rest[open.lowerBound..<close.upperBound]
            }
            rest = rest[close.upperBound...]
        }
        out += rest
        stripped = found ? out.trimmingSpaces : out
    }
}

extension String {
    var trimmingSpaces: String {
        var s = self[...]
        while let first = s.first, first.isWhitespace { s = s.dropFirst() }
        while let last = s.last, last.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
