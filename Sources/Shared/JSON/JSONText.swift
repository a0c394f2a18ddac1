/// Hand-written JSON text for the hot paths (access-log lines, OpenAI completions and chunks),
/// where `JSONEncoder`'s containers and boxing cost more than the answer itself. Tests compare
/// the output with `JSONEncoder`'s.
public enum JSONText {
    private static let hexDigits: [Character] = Array("0123456789abcdef")

    /// A JSON string (or `null`): quotes, backslashes and control characters escaped, as
    /// `JSONEncoder` with `.withoutEscapingSlashes` does.
    public static func appendString(_ value: String?, to out: inout String) {
        guard let value else { return out += "null" }
        out += "\""
        var plainFrom = value.utf8.startIndex
        for i in value.utf8.indices {
            let byte = value.utf8[i]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            out += Substring(value.utf8[plainFrom..<i])
            switch byte {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            default:
                out += "\\u00"
                out.append(Self.hexDigits[Int(byte >> 4)])
                out.append(Self.hexDigits[Int(byte & 0xF)])
            }
            plainFrom = value.utf8.index(after: i)
        }
        out += Substring(value.utf8[plainFrom...])
        out += "\""
    }

    /// An object of `members`, each written as `,"key":value` (so optional members can be left
    /// out without tracking which one comes first): the leading comma is dropped.
    public static func appendObject(_ members: String, to out: inout String) {
        out += "{"
        out += members.isEmpty ? "" : Substring(members.utf8.dropFirst())
        out += "}"
    }

    /// `prefix` and the value when the value is there (`encodeIfPresent`), nothing otherwise;
    /// `prefix` is the literal `,"key":`.
    public static func appendMember(_ prefix: String, _ value: String?, to out: inout String) {
        guard let value else { return }
        out += prefix
        appendString(value, to: &out)
    }
}
