import Foundation
import Testing

@testable import FuzzTargets

/// Every committed corpus file (`fuzz/corpus/TARGET/`: the seeds, what long fuzzing runs kept,
/// and each input that once crashed a target) replayed through its target, without the
/// sanitizers: the cheap regression run CI makes on every commit. A target traps on a broken
/// invariant, so a regression fails this test by crashing the test process.
/// `scripts/fuzz.sh --replay` runs the same under AddressSanitizer and leak detection.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz/corpus")

    @Test(arguments: FuzzTarget.allCases)
    func corpusReplays(_ target: FuzzTarget) throws {
        let folder = Self.corpus.appendingPathComponent(target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(!names.isEmpty, "fuzz/corpus/\(target.rawValue) has no seeds")
        for name in names {
            target.run(try Data(contentsOf: folder.appendingPathComponent(name)))
        }
    }

    /// The http target once fed its pieces to an EmbeddedChannel never made active, so the
    /// pieced parse stopped after the first piece and every seed "depended on how the bytes were
    /// split" (the trap on fuzz/corpus/http/http10). Both parses must see both requests.
    @Test func theHTTPTargetParsesEveryPieceOfAStream() {
        let data = Data("GET /a?x=1 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.0\r\n\r\n".utf8)
        let pieces = stride(from: 0, to: data.count, by: 3).map { data[$0..<min($0 + 3, data.count)] }
        for parse in [HTTPRequestFuzz.parse([data[...]]), HTTPRequestFuzz.parse(pieces)] {
            let requests = parse.compactMap { item -> (String, Bool)? in
                guard case .request(let head, _, let keepAlive, _, _) = item else { return nil }
                return (head.uri, keepAlive)
            }
            #expect(requests.map(\.0) == ["/a?x=1", "/"])
            #expect(requests.map(\.1) == [true, false])
        }
    }

    @Test func everyTargetHasACorpusAndADictionary() {
        let root = Self.corpus.deletingLastPathComponent()
        for target in FuzzTarget.allCases {
            #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("corpus/\(target.rawValue)").path))
            #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("dict/\(target.rawValue).dict").path))
        }
    }

    @Test func theScriptKnowsEveryTarget() throws {
        let script = try String(contentsOf: Self.corpus.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/fuzz.sh"), encoding: .utf8)
        let line = try #require(script.split(separator: "\n").first { $0.hasPrefix("TARGETS=(") })
        let names = line.dropFirst("TARGETS=(".count).dropLast().split(separator: " ").map(String.init)
        #expect(names == FuzzTarget.allCases.map(\.rawValue))
    }
}
