import Shared

/// A fast reader for the upstream events that make up nearly every answer (`Content`,
/// `ToolCall`/`FunctionCall`, `FinishMetadata`, `QuotaMetadata`, the types the worker ignores), one pass over the
/// payload's bytes with no decoder, container or key objects.
///
/// It is an optimisation, never a second opinion: it answers only when the payload is valid
/// JSON (checked strictly, RFC 8259) and every field the event's type needs has the plain
/// shape (a string, a small integer for `parallelToolIndex`, `QuotaMetadata`'s amounts as
/// `{"amount": "…"}` and its time as a number or string). Anything else — an error event, a
/// number where a string was expected, a repeated or escaped key, an escape it would have to
/// guess about — returns nil, and `UpstreamEvent.decode` reads the payload with the
/// general (Codable, lenient) decoder as before. A differential test holds the two to the
/// same answer.
enum EventScanner {
    /// The event, or nil when the general decoder must decide.
    static func event(_ payload: String) -> UpstreamEvent? {
        var text = payload
        if let fast = text.utf8.withContiguousStorageIfAvailable({ event(bytes: $0) }) { return fast }
        text.makeContiguousUTF8()
        return text.utf8.withContiguousStorageIfAvailable { event(bytes: $0) } ?? nil
    }

    /// The fields any of the fast-path types reads.
    private enum Field: Int, CaseIterable {
        case type, eventType, content, id, name, parallelToolIndex, reason, spent, updated, until

        init?(_ key: UnsafeBufferPointer<UInt8>) {
            switch key.count {
            case 2 where Self.equal(key, "id"): self = .id
            case 4 where Self.equal(key, "type"): self = .type
            case 4 where Self.equal(key, "name"): self = .name
            case 6 where Self.equal(key, "reason"): self = .reason
            case 5 where Self.equal(key, "spent"): self = .spent
            case 5 where Self.equal(key, "until"): self = .until
            case 7 where Self.equal(key, "updated"): self = .updated
            case 7 where Self.equal(key, "content"): self = .content
            case 10 where Self.equal(key, "event_type"): self = .eventType
            case 17 where Self.equal(key, "parallelToolIndex"): self = .parallelToolIndex
            default: return nil
            }
        }

        private static func equal(_ bytes: UnsafeBufferPointer<UInt8>, _ name: StaticString) -> Bool {
            name.withUTF8Buffer { $0.elementsEqual(bytes) }
        }
    }

    /// A captured field's value, in the shapes the fast path understands.
    private enum Value {
        case absent
        case null
        case string(String)
        case integer(Int)
        /// `updated`: a quota block whose amounts and time have the plain shapes.
        case block(Block)
        /// A number that is not a small integer, a bool, an object or an array.
        case other

        /// As text: `.some(nil)` when absent or null, nil for a shape that is not a string.
        var text: String?? {
            switch self {
            case .absent, .null: return .some(nil)
            case .string(let s): return .some(s)
            case .integer, .block, .other: return nil
            }
        }

        /// As a time (epoch number or text, as `lenientInstant` reads them): `.some(nil)` when
        /// absent or null, nil for another shape.
        var instant: UpstreamInstant?? {
            switch self {
            case .absent, .null: return .some(nil)
            case .integer(let i): return .some(UpstreamInstant(epoch: Double(i)))
            case .string(let s): return .some(UpstreamInstant(text: s))
            case .block, .other: return nil
            }
        }
    }

    /// `QuotaMetadata.updated` in its common shape: amounts as `{"amount": "…"}` (or a bare
    /// string), `until` as epoch milliseconds or a string.
    private struct Block {
        var current: String?
        var maximum: String?
        var available: String?
        var until: UpstreamInstant?
    }

    private static func event(bytes: UnsafeBufferPointer<UInt8>) -> UpstreamEvent? {
        var reader = Reader(bytes: bytes)
        var fields = [Value](repeating: .absent, count: Field.allCases.count)
        guard reader.object(into: &fields), reader.atEnd else { return nil }

        func string(_ field: Field) -> String?? { fields[field.rawValue].text }
        // An error reported by either field is the general decoder's to word.
        switch fields[Field.eventType.rawValue] {
        case .absent, .null: break
        case .string(let s) where s.lowercased() != "error": break
        default: return nil
        }
        guard let typeField = string(.type) else { return nil }
        let type = typeField ?? ""
        switch type {
        case "Content":
            guard let content = string(.content) else { return nil }
            return .content(content ?? "")
        case "ToolCall", "FunctionCall":
            guard let id = string(.id), let name = string(.name), let arguments = string(.content) else { return nil }
            let index: Int?
            switch fields[Field.parallelToolIndex.rawValue] {
            case .absent, .null: index = nil
            case .integer(let i): index = i
            case .string, .block, .other: return nil
            }
            return .toolCall(.init(id: id, name: name, arguments: arguments ?? "", index: index))
        case "FinishMetadata":
            guard let reason = string(.reason) else { return nil }
            return .finish(reason: reason ?? "stop")
        case "QuotaMetadata":
            // Mirrors `RawEvent`: amounts and times in their plain shapes only.
            guard let spent = string(.spent), let topUntil = fields[Field.until.rawValue].instant else { return nil }
            let block: Block?
            switch fields[Field.updated.rawValue] {
            case .absent, .null: block = nil
            case .block(let b): block = b
            default: return nil
            }
            let report = QuotaReport(
                spent: spent, current: block?.current, maximum: block?.maximum,
                until: (block?.until ?? topUntil)?.text, available: block?.available
            )
            return report.isEmpty ? .undecodable(type: type) : .quota(report)
        case "error", "Error":
            return nil
        default:
            return .ignored(type: type)
        }
    }

    /// A strict JSON reader over bytes that returns false (no throwing, no allocation) at the
    /// first thing it does not accept.
    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var at = 0
        /// Deeper nesting than this is left to the general decoder.
        static let maxDepth = 64

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        var atEnd: Bool {
            mutating get {
                skipSpace()
                return at == bytes.count
            }
        }

        private var current: UInt8? { at < bytes.count ? bytes[at] : nil }

        private mutating func skipSpace() {
            while at < bytes.count {
                switch bytes[at] {
                case 0x20, 0x09, 0x0A, 0x0D: at += 1
                default: return
                }
            }
        }

        private mutating func take(_ byte: UInt8) -> Bool {
            skipSpace()
            guard current == byte else { return false }
            at += 1
            return true
        }

        /// The top-level object: captures the fields in `Field`, validates everything else.
        mutating func object(into fields: inout [Value]) -> Bool {
            guard take(UInt8(ascii: "{")) else { return false }
            if take(UInt8(ascii: "}")) { return true }
            repeat {
                guard let (key, escaped) = memberKey() else { return false }
                // An escaped key could still name a field: the general decoder reads it.
                if escaped { return false }
                if let field = Field(key) {
                    // A repeated field: which one wins is the general decoder's rule.
                    guard case .absent = fields[field.rawValue] else { return false }
                    let captured: Value?
                    switch field {
                    case .spent: captured = amount()
                    case .updated: captured = block()
                    default: captured = capture()
                    }
                    guard let value = captured else { return false }
                    fields[field.rawValue] = value
                } else {
                    guard skipValue(depth: 1) else { return false }
                }
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "}"))
        }

        /// A member's key and its colon: the key's bytes (escapes not undone) and whether it
        /// had escapes; nil when this is not a key.
        private mutating func memberKey() -> (UnsafeBufferPointer<UInt8>, escaped: Bool)? {
            skipSpace()
            guard current == UInt8(ascii: "\"") else { return nil }
            let keyStart = at + 1
            guard let escaped = skipString() else { return nil }
            let key = UnsafeBufferPointer(rebasing: bytes[keyStart..<(at - 1)])
            guard take(UInt8(ascii: ":")) else { return nil }
            return (key, escaped)
        }

        private mutating func capture() -> Value? {
            skipSpace()
            switch current {
            case UInt8(ascii: "\"")?:
                let start = at + 1
                guard let escaped = skipString() else { return nil }
                if escaped { return unescaped(start..<(at - 1)).map(Value.string) }
                return .string(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<(at - 1)]), as: UTF8.self))
            case UInt8(ascii: "n")?:
                return literal("null") ? .null : nil
            case UInt8(ascii: "-")?, (UInt8(ascii: "0")...UInt8(ascii: "9"))?:
                let start = at
                guard let integral = skipNumber() else { return nil }
                // Up to 15 digits: exact in an Int and in the Double the general decoder may use.
                guard integral, at - start <= 15 else { return .other }
                var value = 0
                var negative = false
                for byte in bytes[start..<at] {
                    if byte == UInt8(ascii: "-") { negative = true } else { value = value * 10 + Int(byte - 48) }
                }
                return .integer(negative ? -value : value)
            default:
                return skipValue(depth: 1) ? .other : nil
            }
        }

        /// An amount: `{"amount": "…"}` or a bare string gives `.string`, null `.null`; any other
        /// shape is `.other` (the general decoder's), nil is not JSON.
        private mutating func amount() -> Value? {
            skipSpace()
            guard current == UInt8(ascii: "{") else { return capture() }
            at += 1
            var amount: Value = .absent
            // An escaped or repeated key: the object is still read to its end, then left to
            // the general decoder.
            var plain = true
            if take(UInt8(ascii: "}")) { return .other }
            repeat {
                guard let (key, escaped) = memberKey() else { return nil }
                if escaped { plain = false }
                if !escaped, key.count == 6, StaticString("amount").withUTF8Buffer({ $0.elementsEqual(key) }) {
                    if case .absent = amount {} else { plain = false }
                    guard let value = capture() else { return nil }
                    amount = value
                } else {
                    guard skipValue(depth: 2) else { return nil }
                }
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")) else { return nil }
            if plain, case .string = amount { return amount }
            return .other
        }

        /// `updated`: an object of amounts and `until`, as `.block` when every one of them has
        /// a plain shape, `.other` when not (or when one is repeated or a key escaped), nil when
        /// it is not JSON.
        private mutating func block() -> Value? {
            skipSpace()
            guard current == UInt8(ascii: "{") else { return capture() }
            at += 1
            var members: [String: Value] = [:]
            var plain = true
            if !take(UInt8(ascii: "}")) {
                repeat {
                    guard let (key, escaped) = memberKey() else { return nil }
                    if escaped { plain = false }
                    let name = escaped ? "" : String(decoding: key, as: UTF8.self)
                    let value: Value?
                    switch name {
                    case "current", "maximum", "available": value = amount()
                    case "until": value = capture()
                    default:
                        guard skipValue(depth: 2) else { return nil }
                        continue
                    }
                    guard let value else { return nil }
                    if members.updateValue(value, forKey: name) != nil { plain = false }
                } while take(UInt8(ascii: ","))
                guard take(UInt8(ascii: "}")) else { return nil }
            }
            guard plain, let current = members["current", default: .absent].text,
                  let maximum = members["maximum", default: .absent].text,
                  let available = members["available", default: .absent].text,
                  let until = members["until", default: .absent].instant
            else { return .other }
            return .block(Block(current: current, maximum: maximum, available: available, until: until))
        }

        private mutating func skipValue(depth: Int) -> Bool {
            guard depth <= Self.maxDepth else { return false }
            skipSpace()
            switch current {
            case UInt8(ascii: "\"")?:
                return skipString() != nil
            case UInt8(ascii: "{")?:
                at += 1
                if take(UInt8(ascii: "}")) { return true }
                repeat {
                    guard memberKey() != nil, skipValue(depth: depth + 1) else { return false }
                } while take(UInt8(ascii: ","))
                return take(UInt8(ascii: "}"))
            case UInt8(ascii: "[")?:
                at += 1
                if take(UInt8(ascii: "]")) { return true }
                repeat {
                    guard skipValue(depth: depth + 1) else { return false }
                } while take(UInt8(ascii: ","))
                return take(UInt8(ascii: "]"))
            case UInt8(ascii: "t")?: return literal("true")
            case UInt8(ascii: "f")?: return literal("false")
            case UInt8(ascii: "n")?: return literal("null")
            case UInt8(ascii: "-")?, (UInt8(ascii: "0")...UInt8(ascii: "9"))?:
                return skipNumber() != nil
            default:
                return false
            }
        }

        private mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard at + count <= bytes.count,
                  word.withUTF8Buffer({ $0.elementsEqual(bytes[at..<(at + count)]) })
            else { return false }
            at += count
            return true
        }

        /// Skips a number; returns whether it was an integer (no fraction, no exponent), or nil
        /// when it is not a JSON number.
        private mutating func skipNumber() -> Bool? {
            if current == UInt8(ascii: "-") { at += 1 }
            guard let first = current, (48...57).contains(first) else { return nil }
            at += 1
            if first != 48 { skipDigits() }
            var integral = true
            if current == UInt8(ascii: ".") {
                at += 1
                guard skipDigits() > 0 else { return nil }
                integral = false
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                at += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { at += 1 }
                guard skipDigits() > 0 else { return nil }
                integral = false
            }
            return integral
        }

        @discardableResult
        private mutating func skipDigits() -> Int {
            let start = at
            while let byte = current, (48...57).contains(byte) { at += 1 }
            return at - start
        }

        /// Skips a string starting at its opening quote, validating its escapes; returns whether
        /// it had any, or nil when it is not a JSON string.
        private mutating func skipString() -> Bool? {
            at += 1
            var escaped = false
            while at < bytes.count {
                let byte = bytes[at]
                switch byte {
                case UInt8(ascii: "\""):
                    at += 1
                    return escaped
                case UInt8(ascii: "\\"):
                    escaped = true
                    guard at + 1 < bytes.count else { return nil }
                    switch bytes[at + 1] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                         UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        at += 2
                    case UInt8(ascii: "u"):
                        guard at + 6 <= bytes.count, bytes[(at + 2)..<(at + 6)].allSatisfy(\.isHexDigit) else { return nil }
                        at += 6
                    default:
                        return nil
                    }
                case 0..<0x20:
                    return nil
                default:
                    at += 1
                }
            }
            return nil
        }

        /// The text of a string whose escapes `skipString` validated; nil for an unpaired
        /// surrogate (the general decoder's to judge).
        private func unescaped(_ range: Range<Int>) -> String? {
            var out: [UInt8] = []
            out.reserveCapacity(range.count)
            var i = range.lowerBound
            func hex(_ at: Int) -> UInt32 {
                var value: UInt32 = 0
                for byte in bytes[at..<(at + 4)] { value = value << 4 | UInt32(byte.hexValue) }
                return value
            }
            while i < range.upperBound {
                let byte = bytes[i]
                guard byte == UInt8(ascii: "\\") else {
                    out.append(byte)
                    i += 1
                    continue
                }
                let kind = bytes[i + 1]
                i += 2
                switch kind {
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = hex(i)
                    i += 4
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard i + 6 <= range.upperBound, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u")
                        else { return nil }
                        let low = hex(i + 2)
                        guard (0xDC00..<0xE000).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        return nil
                    }
                    guard let value = Unicode.Scalar(scalar) else { return nil }
                    out.append(contentsOf: value.utf8)
                default: out.append(kind)  // \" \\ \/
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}

private extension UInt8 {
    var isHexDigit: Bool {
        (48...57).contains(self) || (65...70).contains(self) || (97...102).contains(self)
    }

    var hexValue: UInt8 {
        switch self {
        case 48...57: return self - 48
        case 65...70: return self - 55
        default: return self - 87
        }
    }
}
