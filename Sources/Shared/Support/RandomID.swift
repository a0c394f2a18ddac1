/// Random lowercase hex identifiers (`chatcmpl-…`, `call_…`) from the system generator
/// (getrandom), without Foundation's UUID and its /dev/urandom round trip per call.
public enum RandomID {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func hex(_ count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(count)
        var bits: UInt64 = 0
        for i in 0..<count {
            if i % 16 == 0 { bits = generator.next() }
            bytes.append(digits[Int(bits & 0xf)])
            bits >>= 4
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
