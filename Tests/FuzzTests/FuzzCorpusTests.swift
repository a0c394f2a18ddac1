import Foundation
import FuzzTargets
import Testing

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
