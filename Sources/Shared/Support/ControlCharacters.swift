/// `text` with every control character (C0, DEL, C1) and the Unicode bidi/format controls that
/// can reorder or hide text on a terminal written as an escape (`\n`, `\t`, `\u{1B}`, …), and
/// backslashes doubled only when escapes were needed. For user strings (tenant names, keys,
/// paths, values from a fleet file or a request) in messages, logs and `check`/`ctl` output, so
/// they cannot move the cursor, recolour the terminal or forge extra lines.
public func escapingControlCharacters(_ text: String) -> String {
    func needsEscape(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .control: return true
        case .format: return bidiControls.contains(s.value)
        default: return s.value == 0x2028 || s.value == 0x2029
        }
    }
    guard text.unicodeScalars.contains(where: needsEscape) else { return text }
    var out = ""
    for s in text.unicodeScalars {
        switch s {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\\": out += "\\\\"
        default:
            if needsEscape(s) {
                out += "\\u{" + String(s.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(s)
            }
        }
    }
    return out
}

/// LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI, LRM, RLM, ALM.
private let bidiControls: Set<UInt32> = [
    0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C,
]
