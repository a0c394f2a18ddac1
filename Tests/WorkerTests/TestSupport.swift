import Foundation
import Logging
import Shared
import Synchronization
import Testing
@testable import WorkerCore

/// Shared helpers for the worker's unit tests.
enum TestSupport {
    /// A logger that drops everything, so pool transitions do not clutter the test output.
    static let silentLogger = Logger(label: "worker-tests", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Decodes an OpenAI chat request from JSON text (the way the front end receives it).
    static func request(_ json: String) throws -> ChatCompletionRequest {
        try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(json.utf8))
    }

    /// Encodes a value exactly as the worker puts it on the wire and parses it back.
    static func wire<T: Encodable>(_ value: T) throws -> JSONValue {
        let data = try JSONEncoder.compact().encode(value)
        let text = String(decoding: data, as: UTF8.self)
        return try #require(JSONValue(parsing: text), "not JSON: \(text)")
    }

    /// A fresh empty directory under the temporary directory.
    static func makeTemporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("worker-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, to path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        current = Mutex(start)
    }

    var now: Date { current.withLock { $0 } }

    func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    var function: @Sendable () -> Date { { self.now } }
}

/// A deterministic source of "random" numbers in 0..<1, cycling through fixed values.
final class ScriptedRandom: Sendable {
    private let state: Mutex<(values: [Double], next: Int)>

    init(_ values: [Double]) {
        state = Mutex((values, 0))
    }

    func next() -> Double {
        state.withLock { s in
            let v = s.values[s.next % s.values.count]
            s.next += 1
            return v
        }
    }

    var function: @Sendable () -> Double { { self.next() } }
}

extension JSONValue {
    /// Test-local accessors (names chosen not to collide with anything Shared may add).
    var asNumber: Double? {
        if case .number(let n) = self { return n }
        return nil
    }

    var asBool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    var asArray: [JSONValue] { arrayValue ?? [] }

    func at(_ index: Int) -> JSONValue? {
        guard case .array(let a) = self, a.indices.contains(index) else { return nil }
        return a[index]
    }
}

/// Parses JSON text written in a test; a typo fails the test instead of crashing it.
func json(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> JSONValue {
    guard let value = JSONValue(parsing: text) else {
        Issue.record("test JSON does not parse: \(text)", sourceLocation: sourceLocation)
        return .null
    }
    return value
}

/// A small seeded generator (SplitMix64) so "random" test inputs are reproducible.
typealias SeededGenerator = SeededRandom
